package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestServeRefusesToStartWithoutItsServices(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keyring.LoadOrCreateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	loginKey := strings.Repeat("ab", 32)
	signingKey := filepath.Join(t.TempDir(), "ledger-key")
	if err := createSigningKey(signingKey, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	weaviate := weaviatetest.URL(t)
	dead := closedAddr(t)
	pg := pgtest.NewDatabase(t)
	badKEK := filepath.Join(t.TempDir(), "bad-kek.json")
	if err := os.WriteFile(badKEK, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Bad configuration exits 2; a configured service that does not answer exits 1.
	cases := []struct {
		name string
		env  map[string]string
		want string
		code int
	}{
		{"nothing configured", map[string]string{}, "ARKIV_PG_URL ARKIV_ESDB_URL ARKIV_WEAVIATE_URL ARKIV_KEK_FILE ARKIV_AUTH_LOGIN_KEY", 2},
		{"unreadable KEK file", map[string]string{
			"ARKIV_PG_URL": "postgres://x@" + dead + "/x", "ARKIV_ESDB_URL": "esdb://" + dead + "?tls=false",
			"ARKIV_WEAVIATE_URL": weaviate, "ARKIV_KEK_FILE": badKEK, "ARKIV_AUTH_LOGIN_KEY": loginKey,
		}, "ARKIV_KEK_FILE", 2},
		{"weaviate down", map[string]string{
			"ARKIV_PG_URL": "postgres://x@" + dead + "/x", "ARKIV_ESDB_URL": "esdb://" + dead + "?tls=false",
			"ARKIV_WEAVIATE_URL": "http://" + dead, "ARKIV_KEK_FILE": kek, "ARKIV_AUTH_LOGIN_KEY": loginKey,
		}, "Weaviate at ARKIV_WEAVIATE_URL is unreachable", 1},
		{"postgres down", map[string]string{
			"ARKIV_PG_URL": "postgres://x@" + dead + "/x?connect_timeout=2", "ARKIV_ESDB_URL": "esdb://" + dead + "?tls=false",
			"ARKIV_WEAVIATE_URL": weaviate, "ARKIV_KEK_FILE": kek, "ARKIV_AUTH_LOGIN_KEY": loginKey,
		}, "Postgres", 1},
		{"event store down", map[string]string{
			"ARKIV_PG_URL": pg, "ARKIV_ESDB_URL": "esdb://" + dead + "?tls=false",
			"ARKIV_WEAVIATE_URL": weaviate, "ARKIV_KEK_FILE": kek, "ARKIV_AUTH_LOGIN_KEY": loginKey,
		}, "EventStoreDB", 1},
		{"short login key", map[string]string{
			"ARKIV_PG_URL": "postgres://x@" + dead + "/x", "ARKIV_ESDB_URL": "esdb://" + dead + "?tls=false",
			"ARKIV_WEAVIATE_URL": weaviate, "ARKIV_KEK_FILE": kek, "ARKIV_AUTH_LOGIN_KEY": "c2hvcnQ=",
		}, "ARKIV_AUTH_LOGIN_KEY must be 32 bytes", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range []string{"ARKIV_PG_URL", "ARKIV_ESDB_URL", "ARKIV_WEAVIATE_URL", "ARKIV_KEK_FILE", "ARKIV_AUTH_LOGIN_KEY", "ARKIV_KEYSTORE_URL"} {
				t.Setenv(v, c.env[v])
			}
			t.Setenv("ARKIV_SIGNING_KEY_FILE", signingKey)
			t.Setenv("ARKIV_LISTEN", closedAddr(t))
			// The test stack's services are plaintext loopback ones (transport_test.go
			// checks the refusals).
			t.Setenv("ARKIV_INSECURE_HTTP", "true")
			t.Setenv("ARKIV_ALLOW_PLAINTEXT", "postgres,weaviate,esdb")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errOut bytes.Buffer
			env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			start := time.Now()
			if code := run(ctx, env, []string{"serve"}); code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, errOut.String())
			}
			if c.code == 2 {
				oneLine(t, errOut.String())
			}
			for _, w := range strings.Fields(c.want) {
				if !strings.Contains(errOut.String(), w) {
					t.Fatalf("stderr %q does not say %q", errOut.String(), w)
				}
			}
			t.Logf("after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errOut.String()))
			if c.name != "nothing configured" && strings.Contains(errOut.String(), "ARKIV_PG_URL ARKIV") {
				t.Fatalf("stderr lists settings that are set: %s", errOut.String())
			}
		})
	}
}

func TestServeRefusesToStartWithoutASigningKey(t *testing.T) {
	loose := filepath.Join(t.TempDir(), "loose-key")
	if err := createSigningKey(loose, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ file, want string }{
		"unset":             {"", "ARKIV_SIGNING_KEY_FILE is not set"},
		"missing file":      {filepath.Join(t.TempDir(), "none"), "no such file"},
		"readable by group": {loose, "must be 0600"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ARKIV_SIGNING_KEY_FILE", c.file)
			var errOut bytes.Buffer
			env := &cliEnv{stdout: io.Discard, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if code := run(context.Background(), env, []string{"serve"}); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errOut.String())
			}
			if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines != 0 || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("stderr %q: want one line saying %q", errOut.String(), c.want)
			}
		})
	}
}
