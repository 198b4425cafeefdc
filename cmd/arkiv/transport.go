package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/llm"
)

// plaintextServices are the names --allow-plaintext (ARKIV_ALLOW_PLAINTEXT) takes.
var plaintextServices = []string{"postgres", "weaviate", "esdb", "models"}

// parseAllowPlaintext parses the comma-separated list of services allowed without TLS.
func parseAllowPlaintext(s string) (map[string]bool, error) {
	allowed := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if !slices.Contains(plaintextServices, name) {
			return nil, fmt.Errorf("ARKIV_ALLOW_PLAINTEXT: unknown service %q: want a comma-separated list of %s", name, strings.Join(plaintextServices, ", "))
		}
		allowed[name] = true
	}
	return allowed, nil
}

// transportErr refuses, in `arkiv serve`, every connection that would travel in plaintext:
// the API without TLS (unless --insecure-http), and Postgres, Weaviate, the event store and
// model or embedding endpoints without TLS (unless allowed by name with --allow-plaintext).
// `arkiv dev` allows its own services on loopback itself. models lists the catalogue's
// endpoints. The error is one line, for exit status 2.
func (c platformConfig) transportErr(models []domain.CatalogEntry, emb embedding.Config) error {
	allowed, err := parseAllowPlaintext(c.AllowPlaintext)
	if err != nil {
		return usageError{err.Error()}
	}
	if !c.Dev && c.TLSCert == "" && !c.InsecureHTTP {
		return usageError{"arkiv serve refuses plain HTTP: set ARKIV_TLS_CERT and ARKIV_TLS_KEY (--tls-cert, --tls-key), or pass --insecure-http (ARKIV_INSECURE_HTTP=true) behind a proxy that terminates TLS"}
	}
	// check refuses a plaintext connection, naming the setting and the service to allow;
	// dev allows loopback.
	check := func(service, setting, host string, plain bool) error {
		if !plain || allowed[service] || (c.Dev && isLoopback(host)) {
			return nil
		}
		return usageError{fmt.Sprintf("%s is not encrypted: use TLS, or allow it with --allow-plaintext=%s (ARKIV_ALLOW_PLAINTEXT)", setting, service)}
	}
	for _, pg := range []struct{ setting, url string }{{"ARKIV_PG_URL", c.PGURL}, {"ARKIV_KEYSTORE_URL", c.KeystoreURL}} {
		if pg.url == "" {
			continue
		}
		mode, host := pgSSLMode(pg.url)
		if err := check("postgres", pg.setting+" (sslmode="+mode+"; want verify-full or require)", host, mode != "verify-full" && mode != "require"); err != nil {
			return err
		}
	}
	if u, err := url.Parse(c.WeaviateURL); err == nil {
		if err := check("weaviate", "ARKIV_WEAVIATE_URL (http://)", u.Hostname(), u.Scheme != "https"); err != nil {
			return err
		}
	}
	if host, plain := esdbPlaintext(c.ESDBURL); plain {
		if err := check("esdb", "ARKIV_ESDB_URL (tls=false)", host, plain); err != nil {
			return err
		}
	}
	for _, m := range models {
		u, err := url.Parse(m.Endpoint)
		if err != nil {
			continue // the catalogue's own checks refuse it
		}
		// The offline answerer is never called over the network.
		if m.Endpoint == llm.OfflineEndpoint {
			continue
		}
		if err := check("models", "model endpoint "+string(m.ID)+" in ARKIV_MODEL_CATALOG (http://)", u.Hostname(), u.Scheme != "https"); err != nil {
			return err
		}
	}
	if emb.URL != "" && emb.Kind == "openai" {
		u, err := url.Parse(emb.URL)
		if err == nil {
			if err := check("models", "ARKIV_EMBEDDINGS_URL (http://)", u.Hostname(), u.Scheme != "https"); err != nil {
				return err
			}
		}
	}
	return nil
}

// pgSSLMode returns the sslmode a Postgres URL or keyword/value string asks for (PGSSLMODE,
// then libpq's default "prefer", when it names none) and its host.
func pgSSLMode(s string) (mode, host string) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		if u, err := url.Parse(s); err == nil {
			mode, host = u.Query().Get("sslmode"), u.Hostname()
		}
	} else {
		for _, kv := range strings.Fields(s) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "sslmode":
				mode = strings.Trim(v, "'")
			case "host":
				host = strings.Trim(v, "'")
			}
		}
	}
	if mode == "" {
		mode = os.Getenv("PGSSLMODE")
	}
	if mode == "" {
		mode = "prefer"
	}
	return mode, host
}

// esdbPlaintext reports whether an EventStoreDB connection string turns TLS off (tls=false;
// the official client's default is TLS) and its first host.
func esdbPlaintext(s string) (host string, plain bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	for k, v := range u.Query() {
		if strings.EqualFold(k, "tls") && len(v) > 0 && strings.EqualFold(v[0], "false") {
			plain = true
		}
	}
	first, _, _ := strings.Cut(u.Host, ",")
	if h, _, err := net.SplitHostPort(first); err == nil {
		first = h
	}
	return first, plain
}

// isLoopback reports a loopback host name or address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
