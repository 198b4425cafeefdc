package graphiql

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://arkiv.test"+path, nil))
	return rec.Result()
}

func TestPageLoadsOnlyFromThisServer(t *testing.T) {
	h := Handler("/playground", "/graphql")
	resp := get(t, h, "/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-endpoint="/graphql"`) {
		t.Fatalf("index: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "http") {
		t.Fatalf("CSP %q allows more than this server", csp)
	}
	// Every script and stylesheet the page names is served from here.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) < 5 {
		t.Fatalf("the page names %d assets", len(refs))
	}
	for _, m := range refs {
		if !strings.HasPrefix(m[1], "/playground/") {
			t.Fatalf("the page loads %s from elsewhere", m[1])
		}
		r := get(t, h, m[1])
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", m[1], r.StatusCode)
		}
	}
	if r := get(t, h, "/playground/nothing.js"); r.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", r.StatusCode)
	}
}

// TestVendoredAssetsMatchTheirChecksums catches an asset edited by hand after vendoring.
func TestVendoredAssetsMatchTheirChecksums(t *testing.T) {
	sums, err := assets.ReadFile("assets/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 4 {
		t.Fatalf("SHA256SUMS lists %d files", len(lines))
	}
	for _, l := range lines {
		f := strings.Fields(l)
		data, err := assets.ReadFile("assets/" + f[1])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s does not match its vendored checksum", f[1])
		}
	}
}
