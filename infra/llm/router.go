package llm

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// Router serves allow-listed models: OfflineEndpoint by the offline answerer, every other
// endpoint by an OpenAI-compatible client (one per endpoint, reused).
type Router struct {
	cfg     Config
	keys    map[string]string
	offline *Offline
	mu      sync.Mutex
	clients map[string]*OpenAI
}

// NewRouter returns a router whose clients use cfg; keys maps an endpoint's host to its API
// key (overriding cfg.APIKey).
func NewRouter(cfg Config, keys map[string]string) *Router {
	return &Router{cfg: cfg, keys: keys, offline: NewOffline(), clients: map[string]*OpenAI{}}
}

// RouterFromEnv builds a Router from ARKIV_LLM_API_KEY (every remote endpoint),
// ARKIV_LLM_API_KEYS ("host=key,host=key"), ARKIV_LLM_API_KEY_HEADER, ARKIV_LLM_TIMEOUT (a
// Go duration) and ARKIV_LLM_MAX_ATTEMPTS, read through getenv.
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
	return NewRouter(cfg, keys), nil
}

// Provider implements commands.ModelRouter.
func (r *Router) Provider(m domain.AllowedModel) (commands.ModelProvider, error) {
	u, err := url.Parse(m.Endpoint)
	if err != nil || u.Host == "" {
		return nil, domain.Errorf(domain.KindInvalid, "llm.router", "model %s has no valid endpoint", m.ID)
	}
	if strings.EqualFold(u.Hostname(), "offline.arkiv.invalid") {
		return r.offline, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[m.Endpoint]; ok {
		return c, nil
	}
	cfg := r.cfg
	if k, ok := r.keys[strings.ToLower(u.Host)]; ok {
		cfg.APIKey = k
	} else if k, ok := r.keys[strings.ToLower(u.Hostname())]; ok {
		cfg.APIKey = k
	}
	c, err := NewOpenAI(m.Endpoint, cfg)
	if err != nil {
		return nil, err
	}
	r.clients[m.Endpoint] = c
	return c, nil
}
