package domain

import (
	"net/url"
	"regexp"
	"sort"
)

// OfflineEndpoint is the endpoint of Arkiv's offline answerer. The ".invalid" domain never
// resolves and no key is ever sent to it: the model router answers it in-process, so it is
// served at call time whether or not the operator's catalogue lists it.
const OfflineEndpoint = "http://offline.arkiv.invalid/v1"

// CatalogEntry is one model endpoint the operator offers: its id, its OpenAI-compatible
// base URL, where it is hosted, and the name of the environment variable holding its API
// key (empty: the legacy ARKIV_LLM_API_KEY(S)).
type CatalogEntry struct {
	ID       ModelID `json:"id"`
	Endpoint string  `json:"endpoint"`
	Region   Region  `json:"region"`
	KeyEnv   string  `json:"keyEnv,omitempty"`
}

// ModelCatalog is the operator's catalogue of model endpoints (ARKIV_MODEL_CATALOG).
// Organisation Admins allow-list and classify entries of it only, by id: the endpoint, the
// region and the key are the operator's facts, never an Admin's claim. The zero value is
// the empty catalogue.
type ModelCatalog struct {
	entries map[ModelID]CatalogEntry
}

var keyEnvPattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

// NewModelCatalog validates the operator's entries: distinct valid ids, http(s) endpoints
// without credentials, known regions, environment-variable names for keys.
func NewModelCatalog(entries []CatalogEntry) (ModelCatalog, error) {
	const op = "model_catalog.new"
	c := ModelCatalog{entries: make(map[ModelID]CatalogEntry, len(entries))}
	for _, e := range entries {
		if _, err := NewModelID(string(e.ID)); err != nil {
			return ModelCatalog{}, err
		}
		if _, dup := c.entries[e.ID]; dup {
			return ModelCatalog{}, Errorf(KindInvalid, op, "model %s is listed twice", e.ID)
		}
		u, err := url.Parse(e.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return ModelCatalog{}, Errorf(KindInvalid, op, "model %s: endpoint must be an http(s) URL without credentials", e.ID)
		}
		if !e.Region.Valid() {
			return ModelCatalog{}, Errorf(KindInvalid, op, "model %s: region must be SE, EU, US or ONPREM", e.ID)
		}
		if e.KeyEnv != "" && !keyEnvPattern.MatchString(e.KeyEnv) {
			return ModelCatalog{}, Errorf(KindInvalid, op, "model %s: keyEnv must be an environment variable name (A-Z, 0-9, _)", e.ID)
		}
		c.entries[e.ID] = e
	}
	return c, nil
}

// With returns a copy of c with e added (replacing an entry of the same id).
func (c ModelCatalog) With(e CatalogEntry) ModelCatalog {
	out := ModelCatalog{entries: make(map[ModelID]CatalogEntry, len(c.entries)+1)}
	for id, x := range c.entries {
		out.entries[id] = x
	}
	out.entries[e.ID] = e
	return out
}

// Entry returns the catalogue's entry of id.
func (c ModelCatalog) Entry(id ModelID) (CatalogEntry, bool) {
	e, ok := c.entries[id]
	return e, ok
}

// Entries returns the catalogue's entries sorted by id.
func (c ModelCatalog) Entries() []CatalogEntry {
	out := make([]CatalogEntry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Classify returns the allow-list entry an Admin asked for as the catalogue defines it: the
// model must be in the catalogue; the endpoint and region the Admin gave are ignored when
// they match the catalogue's (or are empty) and refused when they differ. Only the maximum
// classification is the Admin's.
func (c ModelCatalog) Classify(m AllowedModel) (AllowedModel, error) {
	const op = "model_catalog.classify"
	e, ok := c.entries[m.ID]
	if !ok {
		return AllowedModel{}, Errorf(KindInvalid, op, "model %s is not in the operator's model catalogue", m.ID)
	}
	if m.Endpoint != "" && m.Endpoint != e.Endpoint {
		return AllowedModel{}, Errorf(KindInvalid, op, "model %s: the endpoint is the operator's catalogue's; leave it out or give %s", m.ID, e.Endpoint)
	}
	if m.Region != "" && m.Region != e.Region {
		return AllowedModel{}, Errorf(KindInvalid, op, "model %s: the operator's catalogue says it is hosted in %s", m.ID, e.Region)
	}
	m.Endpoint, m.Region = e.Endpoint, e.Region
	return m, nil
}

// ClassifySettings applies Classify to every allow-listed model of s.
func (c ModelCatalog) ClassifySettings(s OrganizationSettings) (OrganizationSettings, error) {
	models := make([]AllowedModel, len(s.Models))
	for i, m := range s.Models {
		r, err := c.Classify(m)
		if err != nil {
			return OrganizationSettings{}, err
		}
		models[i] = r
	}
	s.Models = models
	return s, nil
}

// AtCallTime returns the stored allow-list entry m as it may be called now: the offline
// answerer as it is; any other model only if the catalogue still lists it at the same
// endpoint, with the catalogue's region. Settings stored before the catalogue existed, or
// naming an endpoint the operator has since removed, are refused with KindForbidden and a
// message an Admin can act on.
func (c ModelCatalog) AtCallTime(m AllowedModel) (AllowedModel, error) {
	const op = "model_catalog.call"
	if m.Endpoint == OfflineEndpoint {
		return m, nil
	}
	e, ok := c.entries[m.ID]
	if !ok || e.Endpoint != m.Endpoint {
		return AllowedModel{}, Errorf(KindForbidden, op, "model %s is not (or no longer) in the operator's model catalogue at the endpoint the organisation's settings name; an Admin must allow-list it again from the catalogue", m.ID)
	}
	m.Region = e.Region
	return m, nil
}
