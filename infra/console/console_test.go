package console

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestVendoredAssetsMatchTheirChecksums: the embedded htmx is byte for byte what
// tools/vendor-htmx.sh fetched and recorded in SHA256SUMS.
func TestVendoredAssetsMatchTheirChecksums(t *testing.T) {
	sums, err := fs.ReadFile(files, "assets/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		b, err := fs.ReadFile(files, "assets/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
			t.Fatalf("%s does not match SHA256SUMS", name)
		}
		n++
	}
	if n == 0 {
		t.Fatal("SHA256SUMS lists no file")
	}
}

// TestCrossOriginPostsAreRefused: Fetch metadata decides when present; otherwise the Origin
// must be this host.
func TestCrossOriginPostsAreRefused(t *testing.T) {
	for _, c := range []struct {
		site, origin string
		ok           bool
	}{
		{"same-origin", "", true},
		{"same-origin", "null", true},
		{"cross-site", "", false},
		{"same-site", "", false},
		{"", "http://arkiv.test", true},
		{"", "https://evil.example", false},
		{"", "null", false},
		{"", "", true},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://arkiv.test/console/sign-in", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.ok {
			t.Errorf("Sec-Fetch-Site %q, Origin %q: same origin = %v, want %v", c.site, c.origin, got, c.ok)
		}
	}
}

// TestRedirectTargetsStayInTheConsole: a justification's "next" cannot send the browser
// elsewhere.
func TestRedirectTargetsStayInTheConsole(t *testing.T) {
	for target, ok := range map[string]bool{
		"/console/audit?actor=x": true, "/console/model-calls": true, "//evil.example/console/": false,
		"https://evil.example/": false, "/graphql": false, "/console/\\evil": false,
	} {
		if local(target) != ok {
			t.Errorf("local(%q) = %v, want %v", target, !ok, ok)
		}
	}
}

// TestCSRFTokenIsPerCredential: the token differs between sessions and is not the credential.
func TestCSRFTokenIsPerCredential(t *testing.T) {
	a, b := csrfToken("session-a"), csrfToken("session-b")
	if a == b || a == "" || strings.Contains(a, "session-a") || csrfToken("session-a") != a {
		t.Fatalf("csrf tokens %q %q", a, b)
	}
}
