package graphql

import (
	"net/http/httptest"
	"testing"
)

// TestOriginPolicy: no Origin and the server's own origin pass, listed origins pass, others
// are refused; "*" allows any.
func TestOriginPolicy(t *testing.T) {
	p := newOriginPolicy([]string{"https://app.example.com/", " "})
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"http://arkiv.internal:8080", true},
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://evil.example", false},
		{"http://app.example.com", false},
		{"null", false},
	} {
		r := httptest.NewRequest("GET", "http://arkiv.internal:8080/graphql", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := p.allowed(r); got != tc.want {
			t.Errorf("Origin %q: allowed %v, want %v", tc.origin, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "http://arkiv.internal/graphql", nil)
	r.Header.Set("Origin", "https://evil.example")
	if !newOriginPolicy([]string{"*"}).allowed(r) {
		t.Error(`"*" refused an origin`)
	}
}
