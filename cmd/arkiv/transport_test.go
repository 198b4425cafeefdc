package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/keyring"
)

// TestServeRefusesPlaintext: serve refuses plain HTTP without --insecure-http, and every
// plaintext connection to Postgres, Weaviate, the event store and model endpoints unless
// --allow-plaintext names it; each refusal is one line and exit 2. Allowed, serve goes on
// to connect (and, nothing listening, fails with exit 1), so each case proves the check
// passes as well as refuses.
func TestServeRefusesPlaintext(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek.json")
	if _, err := keyring.LoadOrCreateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	signingKey := filepath.Join(dir, "ledger-key")
	if err := createSigningKey(signingKey, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "catalog.json")
	b, _ := json.Marshal([]domain.CatalogEntry{{ID: "plain", Endpoint: "http://llm.example.eu/v1", Region: domain.RegionEU}})
	if err := os.WriteFile(catalog, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dead := closedAddr(t)
	secure := map[string]string{
		"ARKIV_PG_URL":       "postgres://x@" + dead + "/x?sslmode=verify-full&connect_timeout=2",
		"ARKIV_KEYSTORE_URL": "",
		"ARKIV_ESDB_URL":     "esdb://" + dead + "?tls=true",
		"ARKIV_WEAVIATE_URL": "https://" + dead,
		"ARKIV_TLS_CERT":     filepath.Join(dir, "cert.pem"), "ARKIV_TLS_KEY": filepath.Join(dir, "key.pem"),
		"ARKIV_INSECURE_HTTP": "", "ARKIV_ALLOW_PLAINTEXT": "", "ARKIV_MODEL_CATALOG": "",
		"ARKIV_EMBEDDINGS": "", "ARKIV_EMBEDDINGS_URL": "", "PGSSLMODE": "",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range secure {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string // "" means the check passes: serve exits 1 connecting
	}{
		{"all encrypted", secure, ""},
		{"plain HTTP", with("ARKIV_TLS_CERT", "", "ARKIV_TLS_KEY", ""), "refuses plain HTTP"},
		{"plain HTTP allowed", with("ARKIV_TLS_CERT", "", "ARKIV_TLS_KEY", "", "ARKIV_INSECURE_HTTP", "true"), ""},
		{"postgres without sslmode", with("ARKIV_PG_URL", "postgres://x@db.example.eu/x"), "ARKIV_PG_URL (sslmode=prefer; want verify-full or require) is not encrypted: use TLS, or allow it with --allow-plaintext=postgres"},
		{"postgres sslmode=disable", with("ARKIV_PG_URL", "postgres://x@db.example.eu/x?sslmode=disable"), "--allow-plaintext=postgres"},
		{"postgres from PGSSLMODE", with("ARKIV_PG_URL", "postgres://x@"+dead+"/x?connect_timeout=2", "PGSSLMODE", "require"), ""},
		{"postgres keyword string", with("ARKIV_PG_URL", "host=db.example.eu dbname=x sslmode=allow"), "--allow-plaintext=postgres"},
		{"postgres sslmode=require", with("ARKIV_PG_URL", "postgres://x@"+dead+"/x?sslmode=require&connect_timeout=2"), ""},
		{"postgres allowed", with("ARKIV_PG_URL", "postgres://x@"+dead+"/x?sslmode=disable&connect_timeout=2", "ARKIV_ALLOW_PLAINTEXT", "postgres"), ""},
		{"key store plaintext", with("ARKIV_KEYSTORE_URL", "postgres://x@keys.example.eu/k?sslmode=prefer"), "ARKIV_KEYSTORE_URL"},
		{"weaviate over http", with("ARKIV_WEAVIATE_URL", "http://"+dead), "ARKIV_WEAVIATE_URL (http://) is not encrypted: use TLS, or allow it with --allow-plaintext=weaviate"},
		{"weaviate allowed", with("ARKIV_WEAVIATE_URL", "http://"+dead, "ARKIV_ALLOW_PLAINTEXT", "weaviate"), ""},
		{"event store tls=false", with("ARKIV_ESDB_URL", "esdb://"+dead+"?tls=false"), "ARKIV_ESDB_URL (tls=false) is not encrypted: use TLS, or allow it with --allow-plaintext=esdb"},
		{"event store TLS=False", with("ARKIV_ESDB_URL", "esdb://a:2113,b:2113?TLS=False"), "--allow-plaintext=esdb"},
		{"event store allowed", with("ARKIV_ESDB_URL", "esdb://"+dead+"?tls=false", "ARKIV_ALLOW_PLAINTEXT", "esdb , weaviate"), ""},
		{"model over http", with("ARKIV_MODEL_CATALOG", catalog), "model endpoint plain in ARKIV_MODEL_CATALOG (http://) is not encrypted: use TLS, or allow it with --allow-plaintext=models"},
		{"model allowed", with("ARKIV_MODEL_CATALOG", catalog, "ARKIV_ALLOW_PLAINTEXT", "models"), ""},
		{"embeddings over http", with("ARKIV_EMBEDDINGS", "openai", "ARKIV_EMBEDDINGS_URL", "http://emb.example.eu/v1"), "ARKIV_EMBEDDINGS_URL (http://)"},
		{"unknown service", with("ARKIV_ALLOW_PLAINTEXT", "postgres,redis"), `unknown service "redis"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			t.Setenv("ARKIV_KEK_FILE", kek)
			t.Setenv("ARKIV_AUTH_LOGIN_KEY", strings.Repeat("cd", 32))
			t.Setenv("ARKIV_SIGNING_KEY_FILE", signingKey)
			t.Setenv("ARKIV_LISTEN", closedAddr(t))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var errOut, logs bytes.Buffer
			env := &cliEnv{stdout: io.Discard, stderr: &errOut, log: slog.New(slog.NewJSONHandler(&logs, nil))}
			code := run(ctx, env, []string{"serve"})
			if c.want == "" {
				if code != 1 {
					t.Fatalf("exit %d, want 1 (the transport check passes, the services do not answer); stderr: %s", code, errOut.String())
				}
				if c.env["ARKIV_INSECURE_HTTP"] == "true" && !strings.Contains(logs.String(), `"level":"WARN","msg":"serving plain HTTP`) {
					t.Fatalf("--insecure-http was not logged as a warning: %s", logs.String())
				}
				return
			}
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errOut.String())
			}
			oneLine(t, errOut.String())
			if !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("stderr %q does not say %q", errOut.String(), c.want)
			}
		})
	}
}

// TestDevAllowsItsOwnLoopbackServices: `arkiv dev` needs no --allow-plaintext for the
// services it runs on loopback, but still refuses a plaintext service elsewhere.
func TestDevAllowsItsOwnLoopbackServices(t *testing.T) {
	dev := platformConfig{Dev: true, PGURL: "postgres://arkiv@127.0.0.1:5999/arkiv?sslmode=disable",
		WeaviateURL: "http://127.0.0.1:8081", ESDBURL: "esdb://127.0.0.1:2113?tls=false"}
	offline := []domain.CatalogEntry{{ID: "arkiv-offline", Endpoint: domain.OfflineEndpoint}}
	if err := dev.transportErr(offline, embedding.Config{}); err != nil {
		t.Fatalf("dev refused its own services: %v", err)
	}
	remote := dev
	remote.PGURL = "postgres://arkiv@db.example.eu/arkiv?sslmode=disable"
	if err := remote.transportErr(nil, embedding.Config{}); err == nil || !strings.Contains(err.Error(), "--allow-plaintext=postgres") {
		t.Fatalf("dev accepted a remote plaintext Postgres: %v", err)
	}
	serve := dev
	serve.Dev, serve.InsecureHTTP = false, true
	if err := serve.transportErr(nil, embedding.Config{}); err == nil {
		t.Fatal("serve accepted loopback plaintext services without --allow-plaintext")
	}
	serve.AllowPlaintext = "postgres,weaviate,esdb"
	if err := serve.transportErr(offline, embedding.Config{}); err != nil {
		t.Fatalf("serve refused services it was allowed: %v", err)
	}
}
