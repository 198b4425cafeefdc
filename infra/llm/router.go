package llm

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// Router serves allow-listed models: OfflineEndpoint by the offline answerer, every other
// model only as an entry of the operator's catalogue, by an OpenAI-compatible client (one
// per entry, reused) at the catalogue's endpoint with the catalogue's key.
type Router struct {
	cfg     Config
	keys    map[string]string
	getenv  func(string) string
	catalog domain.ModelCatalog
	offline *Offline
	mu      sync.Mutex
	clients map[string]*OpenAI
}

// NewRouter returns a router with an empty catalogue whose clients use cfg; keys maps an
// endpoint's host to its API key (overriding cfg.APIKey) for catalogue entries without a
// keyEnv. WithCatalog gives it the operator's catalogue.
func NewRouter(cfg Config, keys map[string]string) *Router {
	return &Router{cfg: cfg, keys: keys, getenv: os.Getenv, offline: NewOffline(), clients: map[string]*OpenAI{}}
}

// WithCatalog sets the operator's model catalogue and returns r; keys named by entries'
// keyEnv are read through getenv (nil: os.Getenv). Call it before serving.
func (r *Router) WithCatalog(c domain.ModelCatalog, getenv func(string) string) *Router {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catalog = c
	if getenv != nil {
		r.getenv = getenv
	}
	r.clients = map[string]*OpenAI{}
	return r
}

// Catalog implements commands.ModelRouter: the operator's model catalogue.
func (r *Router) Catalog() domain.ModelCatalog {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.catalog
}

// LoadCatalog reads the operator's model catalogue from the JSON file at path:
// [{"id": "…", "endpoint": "https://…/v1", "region": "SE|EU|US|ONPREM", "keyEnv": "VAR"}].
// The error names the file, never its content.
func LoadCatalog(path string) (domain.ModelCatalog, error) {
	const op = "llm.LoadCatalog"
	b, err := os.ReadFile(path)
	if err != nil {
		return domain.ModelCatalog{}, domain.Wrap(domain.KindInvalid, op, err, "ARKIV_MODEL_CATALOG: the file cannot be read")
	}
	var entries []domain.CatalogEntry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return domain.ModelCatalog{}, domain.E(domain.KindInvalid, op,
			fmt.Sprintf("ARKIV_MODEL_CATALOG: %s is not a JSON array of {id, endpoint, region, keyEnv}", path))
	}
	c, err := domain.NewModelCatalog(entries)
	if err != nil {
		return domain.ModelCatalog{}, domain.Wrap(domain.KindInvalid, op, err, "ARKIV_MODEL_CATALOG: "+domain.PublicMessage(err))
	}
	return c, nil
}

// RouterFromEnv builds a Router from ARKIV_MODEL_CATALOG (the operator's catalogue file;
// unset: an empty catalogue, only the offline answerer), ARKIV_LLM_API_KEY and
// ARKIV_LLM_API_KEYS ("host=key,host=key"; both only for catalogue entries without a
// keyEnv), ARKIV_LLM_API_KEY_HEADER, ARKIV_LLM_TIMEOUT (a Go duration) and
// ARKIV_LLM_MAX_ATTEMPTS, read through getenv.
func RouterFromEnv(getenv func(string) string) (*Router, error) {
	const op = "llm.RouterFromEnv"
	cfg := Config{APIKey: getenv("ARKIV_LLM_API_KEY"), APIKeyHeader: getenv("ARKIV_LLM_API_KEY_HEADER")}
	if v := getenv("ARKIV_LLM_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, domain.E(domain.KindInvalid, op, "ARKIV_LLM_TIMEOUT must be a positive duration such as 60s")
		}
		cfg.Timeout = d
	}
	if v := getenv("ARKIV_LLM_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			return nil, domain.E(domain.KindInvalid, op, "ARKIV_LLM_MAX_ATTEMPTS must be 1 to 10")
		}
		cfg.MaxAttempts = n
	}
	keys := map[string]string{}
	for _, kv := range strings.Split(getenv("ARKIV_LLM_API_KEYS"), ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		h, k, ok := strings.Cut(kv, "=")
		if !ok || h == "" || k == "" {
			return nil, domain.E(domain.KindInvalid, op, "ARKIV_LLM_API_KEYS must be host=key pairs separated by commas")
		}
		keys[strings.ToLower(h)] = k
	}
	var catalog domain.ModelCatalog
	if path := getenv("ARKIV_MODEL_CATALOG"); path != "" {
		c, err := LoadCatalog(path)
		if err != nil {
			return nil, err
		}
		catalog = c
	}
	return NewRouter(cfg, keys).WithCatalog(catalog, getenv), nil
}

// Provider implements commands.ModelRouter. Any model but the offline answerer must be an
// entry of the catalogue at the endpoint m names; it is called at the catalogue's endpoint
// with the key the entry's keyEnv names (ARKIV_LLM_API_KEYS / ARKIV_LLM_API_KEY only for
// entries without one), so the operator's key never goes where an Admin points.
func (r *Router) Provider(m domain.AllowedModel) (commands.ModelProvider, error) {
	u, err := url.Parse(m.Endpoint)
	if err != nil || u.Host == "" {
		return nil, domain.Errorf(domain.KindInvalid, "llm.router", "model %s has no valid endpoint", m.ID)
	}
	if m.Endpoint == OfflineEndpoint {
		return r.offline, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.catalog.Entry(m.ID)
	if !ok || e.Endpoint != m.Endpoint {
		return nil, domain.Errorf(domain.KindForbidden, "llm.router", "model %s is not in the operator's model catalogue at that endpoint", m.ID)
	}
	if c, ok := r.clients[string(e.ID)]; ok {
		return c, nil
	}
	cfg := r.cfg
	eu, _ := url.Parse(e.Endpoint)
	switch {
	case e.KeyEnv != "":
		cfg.APIKey = r.getenv(e.KeyEnv)
	default:
		if k, ok := r.keys[strings.ToLower(eu.Host)]; ok {
			cfg.APIKey = k
		} else if k, ok := r.keys[strings.ToLower(eu.Hostname())]; ok {
			cfg.APIKey = k
		}
	}
	c, err := NewOpenAI(e.Endpoint, cfg)
	if err != nil {
		return nil, err
	}
	r.clients[string(e.ID)] = c
	return c, nil
}
