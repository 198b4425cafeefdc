package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/go-jose/go-jose/v4"
)

// idp is an OIDC provider on loopback: discovery document and JWKS, signing with a key made
// in the test.
type idp struct {
	srv       *httptest.Server
	key       crypto.Signer
	alg       jose.SignatureAlgorithm
	kid       string
	jwksFetch atomic.Int32
	// down makes the discovery endpoint answer 503.
	down atomic.Bool
}

func newIDP(t testing.TB, alg jose.SignatureAlgorithm) *idp {
	t.Helper()
	i := &idp{alg: alg, kid: "k1"}
	var err error
	if alg == jose.RS256 {
		i.key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		i.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		if i.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.srv.URL,
			"authorization_endpoint":                i.srv.URL + "/authorize",
			"token_endpoint":                        i.srv.URL + "/token",
			"jwks_uri":                              i.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{string(alg)},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		i.jwksFetch.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: i.key.Public(), KeyID: i.kid, Algorithm: string(alg), Use: "sig"},
		}})
	})
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

// sign signs claims with key under kid.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (i *idp) token(t testing.TB, now time.Time, aud string, extra map[string]any) string {
	t.Helper()
	c := map[string]any{
		"iss": i.srv.URL, "sub": "subject-1", "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email": "ada@example.org",
	}
	for k, v := range extra {
		c[k] = v
	}
	return sign(t, i.alg, i.key, i.kid, c)
}

func oidcEnv(t testing.TB, mfa bool) (*env, *idp) {
	t.Helper()
	e := newEnv(t, nil)
	i := newIDP(t, jose.RS256)
	if err := e.pg.SetAuthSettings(context.Background(), "org-1", settings(mfa, auth.OIDCProvider{Issuer: i.srv.URL, Audience: "arkiv-api"})); err != nil {
		t.Fatal(err)
	}
	e.users[[3]string{"org-1", i.srv.URL, "subject-1"}] = "user-1"
	return e, i
}

func TestOIDCHappyPath(t *testing.T) {
	t.Parallel()
	e, i := oidcEnv(t, false)
	tok := i.token(t, e.clock.Now(), "arkiv-api", nil)
	rec, p, ok := serve(t, e.a, "Bearer "+tok)
	if rec.Code != http.StatusNoContent || !ok {
		t.Fatalf("status %d principal %v body %s", rec.Code, ok, rec.Body)
	}
	want := auth.Principal{UserID: "user-1", OrganizationID: "org-1", Method: auth.MethodOIDC}
	if p != want {
		t.Fatalf("principal %+v, want %+v", p, want)
	}
	// The provider and its keys are cached: a second token fetches no JWKS.
	if _, err := e.a.AuthenticateToken(context.Background(), i.token(t, e.clock.Now(), "arkiv-api", map[string]any{"jti": "2"})); err != nil {
		t.Fatal(err)
	}
	if n := i.jwksFetch.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
}

func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	e, i := oidcEnv(t, false)
	ctx := context.Background()
	now := e.clock.Now()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stranger := newIDP(t, jose.ES256)
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": i.srv.URL, "sub": "subject-1", "aud": "arkiv-api", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	// An HS256 token "signed" with the RSA public key's bytes: the algorithm-confusion attack.
	hsKey, _ := json.Marshal(i.key.Public())
	cases := []struct {
		name, token, msg string
	}{
		{"wrong audience", i.token(t, now, "someone-else", nil), auth.OIDCNotAccepted},
		{"unknown issuer", stranger.token(t, now, "arkiv-api", nil), auth.OIDCNotAccepted},
		{"issuer claim of another provider", sign(t, jose.RS256, i.key, i.kid, base(map[string]any{"iss": stranger.srv.URL})), auth.OIDCNotAccepted},
		{"expired", i.token(t, now.Add(-2*time.Hour), "arkiv-api", nil), auth.OIDCNotAccepted},
		{"bad signature", sign(t, jose.RS256, other, i.kid, base(nil)), auth.OIDCNotAccepted},
		{"unknown key id", sign(t, jose.RS256, other, "k2", base(nil)), auth.OIDCNotAccepted},
		{"hmac algorithm", sign(t, jose.HS256, hsKey, i.kid, base(nil)), auth.OIDCNotAccepted},
		{"not yet valid", sign(t, jose.RS256, i.key, i.kid, base(map[string]any{"nbf": now.Add(time.Hour).Unix()})), auth.OIDCNotAccepted},
		{"unknown user", sign(t, jose.RS256, i.key, i.kid, base(map[string]any{"sub": "subject-2"})), auth.OIDCNotAccepted},
		{"no subject", sign(t, jose.RS256, i.key, i.kid, base(map[string]any{"sub": ""})), auth.OIDCNotAccepted},
		{"garbage", "a.b.c", auth.OIDCNotAccepted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.a.AuthenticateToken(ctx, c.token)
			wantKind(t, err, domain.KindUnauthenticated, c.msg)
		})
	}
	// A tampered payload with the original signature.
	parts := strings.Split(i.token(t, now, "arkiv-api", nil), ".")
	forged := sign(t, jose.RS256, other, i.kid, base(map[string]any{"sub": "admin"}))
	parts[1] = strings.Split(forged, ".")[1]
	_, err = e.a.AuthenticateToken(ctx, strings.Join(parts, "."))
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
}

// TestOIDCEmailTrustedOnlyWhenVerified: a token's e-mail address matches a user only when
// the provider says it verified it (email_verified: true); absent or false, it is ignored.
func TestOIDCEmailTrustedOnlyWhenVerified(t *testing.T) {
	t.Parallel()
	e, i := oidcEnv(t, false)
	ctx := context.Background()
	now := e.clock.Now()
	e.users[[3]string{"org-1", "email", "grace@example.org"}] = "user-2"
	for _, extra := range []map[string]any{
		{"sub": "subject-9", "email": "grace@example.org"},
		{"sub": "subject-9", "email": "grace@example.org", "email_verified": false},
		{"sub": "subject-9", "email": "grace@example.org", "email_verified": "true"},
	} {
		_, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", extra))
		if extra["email_verified"] == "true" {
			if err == nil {
				t.Fatal("email_verified as a string was trusted")
			}
			continue
		}
		wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
	}
	p, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", map[string]any{"sub": "subject-9",
		"email": "grace@example.org", "email_verified": true}))
	if err != nil || p.UserID != "user-2" {
		t.Fatalf("verified e-mail: %+v, %v", p, err)
	}
}

// TestOIDCRefusalsAreAlike: whatever the reason, the caller gets one message; the reason
// stays in the error's cause for the server log.
func TestOIDCRefusalsAreAlike(t *testing.T) {
	t.Parallel()
	e, i := oidcEnv(t, false)
	stranger := newIDP(t, jose.ES256)
	now := e.clock.Now()
	_, unknown := e.a.AuthenticateToken(context.Background(), stranger.token(t, now, "arkiv-api", nil))
	_, wrongAud := e.a.AuthenticateToken(context.Background(), i.token(t, now, "other", nil))
	if domain.PublicMessage(unknown) != domain.PublicMessage(wrongAud) || !strings.Contains(unknown.Error(), "issuer") {
		t.Fatalf("unknown issuer %q, configured issuer with a wrong audience %q", unknown, wrongAud)
	}
}

func TestOIDCMFARequired(t *testing.T) {
	t.Parallel()
	e, i := oidcEnv(t, true)
	ctx := context.Background()
	now := e.clock.Now()

	_, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", nil))
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
	_, err = e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", map[string]any{"amr": []string{"pwd"}}))
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)

	p, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", map[string]any{"amr": []string{"pwd", "mfa"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.MFA || p.UserID != "user-1" {
		t.Fatalf("principal %+v", p)
	}
	p, err = e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api",
		map[string]any{"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}))
	if err != nil || !p.MFA {
		t.Fatalf("acr multi-factor: %+v %v", p, err)
	}

	// The MFA flag is reported even where the organisation does not require it.
	e2, i2 := oidcEnv(t, false)
	p, err = e2.a.AuthenticateToken(ctx, i2.token(t, now, "arkiv-api", map[string]any{"amr": []string{"hwk"}}))
	if err != nil || !p.MFA {
		t.Fatalf("hwk: %+v %v", p, err)
	}
}

func TestOIDCProviderConfiguredAMR(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	i := newIDP(t, jose.ES256)
	ctx := context.Background()
	pr := auth.OIDCProvider{Issuer: i.srv.URL, Audience: "arkiv-api", AllowedAMR: []string{"face"}, AcceptedACR: []string{"gold"}}
	if err := e.pg.SetAuthSettings(ctx, "org-1", settings(true, pr)); err != nil {
		t.Fatal(err)
	}
	e.users[[3]string{"org-1", i.srv.URL, "subject-1"}] = "user-1"
	now := e.clock.Now()
	_, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", map[string]any{"amr": []string{"mfa"}}))
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
	for _, extra := range []map[string]any{{"amr": []string{"face"}}, {"acr": "gold"}} {
		if p, err := e.a.AuthenticateToken(ctx, i.token(t, now, "arkiv-api", extra)); err != nil || !p.MFA {
			t.Fatalf("%v: %+v %v", extra, p, err)
		}
	}
}

func TestOIDCIssuerSharedByOrganisations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	i := newIDP(t, jose.ES256)
	ctx := context.Background()
	for _, org := range []string{"org-a", "org-b"} {
		if err := e.pg.SetAuthSettings(ctx, org, settings(false, auth.OIDCProvider{Issuer: i.srv.URL, Audience: "api-" + org})); err != nil {
			t.Fatal(err)
		}
		e.users[[3]string{org, i.srv.URL, "subject-1"}] = "user-of-" + org
	}
	// The same (issuer, audience) cannot be claimed by a second organisation.
	err := e.pg.SetAuthSettings(ctx, "org-c", settings(false, auth.OIDCProvider{Issuer: i.srv.URL, Audience: "api-org-a"}))
	wantKind(t, err, domain.KindConflict, "")

	now := e.clock.Now()
	for _, org := range []string{"org-a", "org-b"} {
		p, err := e.a.AuthenticateToken(ctx, i.token(t, now, "api-"+org, nil))
		if err != nil {
			t.Fatal(err)
		}
		if p.OrganizationID != org || p.UserID != "user-of-"+org {
			t.Fatalf("token for %s: %+v", org, p)
		}
	}
	_, err = e.a.AuthenticateToken(ctx, i.token(t, now, "", map[string]any{"aud": []string{"api-org-a", "api-org-b"}}))
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
}

func TestOIDCProviderValidation(t *testing.T) {
	t.Parallel()
	for _, p := range []auth.OIDCProvider{
		{Issuer: "http://idp.example.org", Audience: "a"},
		{Issuer: "https://user:pw@idp.example.org", Audience: "a"},
		{Issuer: "idp.example.org", Audience: "a"},
		{Issuer: "https://idp.example.org", Audience: " "},
	} {
		if err := p.Validate(); !domain.Is(domain.KindInvalid, err) {
			t.Errorf("%+v: want invalid, got %v", p, err)
		}
	}
	for _, p := range []auth.OIDCProvider{
		{Issuer: "https://login.microsoftonline.com/tenant/v2.0", Audience: "api://arkiv"},
		{Issuer: "http://127.0.0.1:8080/realms/x", Audience: "arkiv"},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestOIDCProviderUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	i := newIDP(t, jose.ES256)
	i.down.Store(true)
	if err := e.pg.SetAuthSettings(ctx, "org-1", settings(false, auth.OIDCProvider{Issuer: i.srv.URL, Audience: "arkiv-api"})); err != nil {
		t.Fatal(err)
	}
	e.users[[3]string{"org-1", i.srv.URL, "subject-1"}] = "user-1"
	tok := i.token(t, e.clock.Now(), "arkiv-api", nil)

	// Refused like any token that is not accepted: an unauthenticated caller must not tell a
	// configured issuer (whose JWKS is down) from one no organisation configured.
	rec, _, ok := serve(t, e.a, "Bearer "+tok)
	if rec.Code != http.StatusUnauthorized || ok {
		t.Fatalf("IdP down: status %d", rec.Code)
	}
	if msg, code := decodeError(t, rec); code != "UNAUTHENTICATED" || msg != auth.OIDCNotAccepted {
		t.Fatalf("IdP down: %q %q", msg, code)
	}
	// The failure is remembered briefly, then discovery is tried again.
	i.down.Store(false)
	_, err := e.a.AuthenticateToken(ctx, tok)
	wantKind(t, err, domain.KindUnauthenticated, auth.OIDCNotAccepted)
	e.clock.Advance(11 * time.Second)
	if _, err := e.a.AuthenticateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
}
