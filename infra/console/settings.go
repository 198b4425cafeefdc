package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// passwordPolicy is the organisation's password policy as the API reads and takes it.
type passwordPolicy struct {
	MinLength      int  `json:"minLength"`
	RequireUpper   bool `json:"requireUpper"`
	RequireDigit   bool `json:"requireDigit"`
	RequireSymbol  bool `json:"requireSymbol"`
	MaxAgeDays     int  `json:"maxAgeDays"`
	HistoryEntries int  `json:"historyEntries"`
}

// allowedModel is an entry of the organisation's model allow-list.
type allowedModel struct {
	ID                string `json:"id"`
	Endpoint          string `json:"endpoint"`
	Region            string `json:"region"`
	MaxClassification string `json:"maxClassification"`
}

// identityProvider is an identity provider as the organisation lists it (Admins).
type identityProvider struct {
	Issuer      string   `json:"issuer"`
	Audience    string   `json:"audience"`
	AllowedAmr  []string `json:"allowedAmr"`
	AcceptedAcr []string `json:"acceptedAcr"`
	Active      bool     `json:"active"`
}

// settingsData is the settings page: the organisation's settings (or, after a refused
// save, the values the form sent), its identity providers, and whether the caller may edit.
type settingsData struct {
	Org struct {
		ID       string   `json:"id"`
		Name     *string  `json:"name"`
		Settings settings `json:"settings"`
	} `json:"organization"`
	Providers    []identityProvider
	ProvidersErr *Error
	Editable     bool
	Saved        string
	// Refused is the API's refusal of the last save, shown next to the form.
	Refused   *Error
	NewModel  allowedModel
	Regions   []string
	RetModes  []string
	LevelsCSV string
}

var (
	regions          = []string{"SE", "EU", "US", "ONPREM"}
	auditRetentionMs = []string{"DAYS_30", "DAYS_90", "CUSTOM"}
)

const qSettingsRead = `query($at: String) { organization(consistentAt: $at) { id name settings { models { id endpoint region maxClassification }
  classificationLevels defaultMessageRetentionDays auditRetentionMode auditRetentionDays erasureGraceDays
  sessionIdleTimeoutMinutes passwordMinLength mfaRequired euOnly modelPayloadRetentionDays forbidModelPayloadLogging
  passwordPolicy { minLength requireUpper requireDigit requireSymbol maxAgeDays historyEntries } } } }`

const qProviders = `{ organization { identityProviders { issuer audience allowedAmr acceptedAcr active } } }`

// loadSettings reads the organisation's settings (as of position at, when given) and, for
// Admins, its identity providers.
func (c *Console) loadSettings(r *http.Request, s sess, v view, at string) (settingsData, error) {
	d := settingsData{Regions: regions, RetModes: auditRetentionMs, Editable: v.Me != nil && v.Me.Role == "ADMIN"}
	vars := map[string]any{}
	if at != "" {
		vars["at"] = at
	}
	if err := c.gql.do(r, s.token, qSettingsRead, vars, &d); err != nil {
		return d, err
	}
	var p struct {
		Org struct {
			IdentityProviders []identityProvider `json:"identityProviders"`
		} `json:"organization"`
	}
	if err := c.gql.do(r, s.token, qProviders, nil, &p); err != nil {
		ge, ok := err.(*Error)
		if !ok || ge.Code != "FORBIDDEN" {
			return d, err
		}
		d.ProvidersErr = ge
	}
	d.Providers = p.Org.IdentityProviders
	d.LevelsCSV = strings.Join(d.Org.Settings.ClassificationLevels, ", ")
	return d, nil
}

// settings shows the organisation's settings: a form for Admins, read-only for others.
func (c *Console) settings(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "settings", "Settings")
	if !ok {
		return
	}
	saved := r.URL.Query().Get("saved")
	d, err := c.loadSettings(r, s, v, saved)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d.Saved = saved
	v.Data = d
	c.render(w, http.StatusOK, "settings", v)
}

// settingsSave is the settings form's read-modify-write: it reads the settings, applies
// the form's fields (the allow-list's endpoints and regions are the ones read, as the
// catalogue has them), and replaces them with updateOrganizationSettings. A refusal
// (INVALID, FORBIDDEN) is shown next to the form with the values sent; nothing changes.
func (c *Console) settingsSave(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "settings", "Settings")
	if !ok {
		return
	}
	d, err := c.loadSettings(r, s, v, "")
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	in, sent, ferr := settingsFromForm(r, d.Org.Settings)
	if ferr == nil {
		var out struct {
			U struct {
				Position string `json:"position"`
			} `json:"updateOrganizationSettings"`
		}
		err := c.gql.do(r, s.token, `mutation($in: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $in) { id position } }`,
			map[string]any{"in": in}, &out)
		if err == nil {
			c.redirect(w, r, Base+"/settings?"+url.Values{"saved": {out.U.Position}}.Encode())
			return
		}
		ge, isGE := err.(*Error)
		if !isGE || (ge.Code != "INVALID" && ge.Code != "FORBIDDEN") {
			c.fail(w, r, v, err)
			return
		}
		ferr = ge
	}
	d.Refused = ferr
	d.Org.Settings = sent
	d.LevelsCSV = strings.TrimSpace(r.PostFormValue("classificationLevels"))
	d.NewModel = allowedModel{ID: strings.TrimSpace(r.PostFormValue("new.id")), Endpoint: strings.TrimSpace(r.PostFormValue("new.endpoint")),
		Region: r.PostFormValue("new.region"), MaxClassification: r.PostFormValue("new.max")}
	v.Data = d
	status := http.StatusBadRequest
	if ferr.Code == "FORBIDDEN" {
		status = http.StatusForbidden
	}
	c.render(w, status, "settings", v)
}

// settingsFromForm builds UpdateOrganizationSettingsInput from the form over the settings
// cur, and the settings as the form would have them (to show again after a refusal).
func settingsFromForm(r *http.Request, cur settings) (map[string]any, settings, *Error) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	on := func(k string) bool { return r.PostFormValue(k) != "" }
	var bad *Error
	num := func(k, what string) int {
		n, err := strconv.Atoi(f(k))
		if err != nil && bad == nil {
			bad = &Error{Code: "INVALID", Message: what + " must be a whole number"}
		}
		return n
	}
	s := cur
	s.EUOnly = on("euOnly")
	s.MFARequired = on("mfaRequired")
	s.SessionIdleTimeoutMinutes = num("sessionIdleTimeoutMinutes", "the session idle timeout")
	s.PasswordPolicy = passwordPolicy{MinLength: num("pw.minLength", "the password's minimum length"),
		RequireUpper: on("pw.requireUpper"), RequireDigit: on("pw.requireDigit"), RequireSymbol: on("pw.requireSymbol"),
		MaxAgeDays: num("pw.maxAgeDays", "the password's maximum age"), HistoryEntries: num("pw.historyEntries", "the password history")}
	s.PasswordMinLength = s.PasswordPolicy.MinLength
	s.ClassificationLevels = nil
	for _, l := range strings.Split(f("classificationLevels"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			s.ClassificationLevels = append(s.ClassificationLevels, l)
		}
	}
	s.DefaultMessageRetentionDays = num("defaultMessageRetentionDays", "the message retention")
	s.AuditRetentionMode = f("auditRetentionMode")
	s.AuditRetentionDays = num("auditRetentionDays", "the audit retention")
	s.ErasureGraceDays = num("erasureGraceDays", "the erasure grace")
	s.ModelPayloadRetentionDays = num("modelPayloadRetentionDays", "the model payload cap")
	s.ForbidModelPayloadLogging = on("forbidModelPayloadLogging")
	// The allow-list: each entry read keeps its endpoint and region; the form changes its
	// classification or removes it, and may add one.
	s.Models = nil
	for i, m := range cur.Models {
		p := "model." + strconv.Itoa(i) + "."
		if f(p+"id") != m.ID {
			if bad == nil {
				bad = &Error{Code: "CONFLICT", Message: "the allow-list changed since the page was loaded: reload it and try again"}
			}
			continue
		}
		if on(p + "remove") {
			continue
		}
		if mc := f(p + "max"); mc != "" {
			m.MaxClassification = mc
		}
		s.Models = append(s.Models, m)
	}
	if id := f("new.id"); id != "" {
		s.Models = append(s.Models, allowedModel{ID: id, Endpoint: f("new.endpoint"), Region: f("new.region"), MaxClassification: f("new.max")})
	}
	models := []map[string]any{}
	for _, m := range s.Models {
		models = append(models, map[string]any{"modelId": m.ID, "endpoint": m.Endpoint, "region": m.Region, "maxClassification": m.MaxClassification})
	}
	levels := s.ClassificationLevels
	if levels == nil {
		levels = []string{}
	}
	in := map[string]any{
		"models":                      models,
		"classificationLevels":        levels,
		"defaultMessageRetentionDays": s.DefaultMessageRetentionDays,
		"auditRetention":              map[string]any{"mode": s.AuditRetentionMode, "days": s.AuditRetentionDays},
		"erasureGraceDays":            s.ErasureGraceDays,
		"sessionIdleTimeoutMinutes":   s.SessionIdleTimeoutMinutes,
		"password": map[string]any{"minLength": s.PasswordPolicy.MinLength, "requireUpper": s.PasswordPolicy.RequireUpper,
			"requireDigit": s.PasswordPolicy.RequireDigit, "requireSymbol": s.PasswordPolicy.RequireSymbol,
			"maxAgeDays": s.PasswordPolicy.MaxAgeDays, "historyEntries": s.PasswordPolicy.HistoryEntries},
		"mfaRequired":               s.MFARequired,
		"euOnly":                    s.EUOnly,
		"modelPayloadRetentionDays": s.ModelPayloadRetentionDays,
		"forbidModelPayloadLogging": s.ForbidModelPayloadLogging,
	}
	return in, s, bad
}
