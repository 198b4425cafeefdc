package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// TestProofOfControl: a proof verifies only as a fresh token of the issuer for the
// audience, signed by a key of its JWKS; the e-mail comes back only when verified.
func TestProofOfControl(t *testing.T) {
	ctx := context.Background()
	i := newIDP(t, jose.ES256)
	clock := &fakeClock{t: time.Now()}
	v := auth.NewProofVerifier(nil, clock)
	now := clock.Now()
	p, err := v.VerifyIdentityProof(ctx, i.srv.URL, "arkiv", i.token(t, now, "arkiv", map[string]any{"email_verified": true}))
	if err != nil || p.Subject != "subject-1" || p.Email != "ada@example.org" || p.TenantID != "" || p.TokenIssuer != "" {
		t.Fatalf("proof %+v, %v", p, err)
	}
	if p, err := v.VerifyIdentityProof(ctx, i.srv.URL, "arkiv", i.token(t, now, "arkiv", nil)); err != nil || p.Email != "" {
		t.Fatalf("an unverified e-mail came back: %+v, %v", p, err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tok := range map[string]string{
		"another audience":      i.token(t, now, "another-app", nil),
		"another issuer":        i.token(t, now, "arkiv", map[string]any{"iss": "http://127.0.0.1:1/other"}),
		"older than an hour":    i.token(t, now.Add(-2*time.Hour), "arkiv", map[string]any{"exp": now.Add(time.Hour).Unix()}),
		"expired":               i.token(t, now.Add(-3*time.Hour), "arkiv", nil),
		"signed by another key": sign(t, jose.ES256, other, "k1", map[string]any{"iss": i.srv.URL, "aud": "arkiv", "sub": "s", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
		"not a token":           "proof",
		"unsigned (alg none)":   "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIn0.",
	} {
		if _, err := v.VerifyIdentityProof(ctx, i.srv.URL, "arkiv", tok); !domain.Is(domain.KindForbidden, err) {
			t.Errorf("%s: want FORBIDDEN, got %v", name, err)
		}
	}
	i.down.Store(true)
	if _, err := auth.NewProofVerifier(nil, clock).VerifyIdentityProof(ctx, i.srv.URL, "arkiv", i.token(t, now, "arkiv", nil)); !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("an unreachable issuer: want UNAVAILABLE, got %v", err)
	}
}

// TestProofPinsTenantOfMultiTenantIssuer: an issuer whose discovery document names
// "{tenantid}" (Entra "organizations") accepts a proof only with a "tid" whose tenant's
// issuer is the token's "iss", and returns both to be pinned.
func TestProofPinsTenantOfMultiTenantIssuer(t *testing.T) {
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/organizations/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL + "/{tenantid}/v2.0", "jwks_uri": srv.URL + "/keys",
			"authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer := srv.URL + "/organizations/v2.0"
	clock := &fakeClock{t: time.Now()}
	now := clock.Now()
	tok := func(iss, tid string) string {
		c := map[string]any{"iss": iss, "aud": "app", "sub": "s", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if tid != "" {
			c["tid"] = tid
		}
		return sign(t, jose.ES256, key, "k1", c)
	}
	v := auth.NewProofVerifier(nil, clock)
	p, err := v.VerifyIdentityProof(ctx, issuer, "app", tok(srv.URL+"/tenant-a/v2.0", "tenant-a"))
	if err != nil || p.TenantID != "tenant-a" || p.TokenIssuer != srv.URL+"/tenant-a/v2.0" {
		t.Fatalf("proof %+v, %v", p, err)
	}
	for name, bad := range map[string]string{
		"no tid":                      tok(srv.URL+"/tenant-a/v2.0", ""),
		"another tenant's issuer":     tok(srv.URL+"/tenant-b/v2.0", "tenant-a"),
		"the placeholder as issuer":   tok(srv.URL+"/{tenantid}/v2.0", "{tenantid}"),
		"a tid that bends the issuer": tok(srv.URL+"/x/../tenant-a/v2.0", "x/../tenant-a"),
	} {
		if _, err := v.VerifyIdentityProof(ctx, issuer, "app", bad); !domain.Is(domain.KindForbidden, err) {
			t.Errorf("%s: want FORBIDDEN, got %v", name, err)
		}
	}
}
