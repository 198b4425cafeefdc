package auth_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/go-jose/go-jose/v4"
)

// failingUsage fails every record, so the warning path is logged too.
type failingUsage struct{}

func (failingUsage) RecordAPIKeyUse(context.Context, string, string) error {
	return domain.E(domain.KindUnavailable, "usage", "event store down")
}

// TestNoSecretIsLogged drives every path that logs, at debug level, and checks that no
// password, API key, session token, OIDC token or login name reaches the log.
func TestNoSecretIsLogged(t *testing.T) {
	t.Parallel()
	e := localEnv(t, func(c *auth.Config) { c.Usage = failingUsage{} })
	ctx := context.Background()
	i := newIDP(t, jose.ES256)
	s := settings(true, auth.OIDCProvider{Issuer: i.srv.URL, Audience: "arkiv-api"})
	s.MFARequired = false
	if err := e.pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		t.Fatal(err)
	}
	key := newKey(t, e, "key-1", "org-1", domain.KeyOwnerUser, "user-1")
	revoked := newKey(t, e, "key-2", "org-1", domain.KeyOwnerUser, "user-1")
	if err := e.pg.RevokeAPIKey(ctx, "key-2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wrong := "wrong but secret password 9"
	session, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		_, _, _ = e.a.Login(ctx, "org-1", email, wrong, ip)
	}
	goodJWT := i.token(t, e.clock.Now(), "arkiv-api", nil) // user unknown: refused and logged
	badJWT := i.token(t, e.clock.Now(), "other-api", nil)
	unknownKey, _, _, _ := domain.GenerateAPIKey(rand.Reader)
	secrets := []string{password, wrong, key, revoked, unknownKey, session, goodJWT, badJWT, email, strings.ToLower(email)}

	for _, tok := range []string{key, revoked, unknownKey, session, goodJWT, badJWT, "as_" + strings.Repeat("x", 43)} {
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), tok) {
			t.Fatal("a response echoes the token")
		}
	}
	e.clock.Advance(time.Hour)
	_, _ = e.a.AuthenticateToken(ctx, session)

	logs := e.logs.String()
	t.Log(logs)
	if !strings.Contains(logs, "authentication refused") || !strings.Contains(logs, "login refused") ||
		!strings.Contains(logs, "recording API key use failed") {
		t.Fatalf("the paths that log did not log:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret reached the log:\n%s", logs)
		}
	}
	for _, a := range e.audit.all() {
		if strings.Contains(a.digest+a.reason, "example.org") {
			t.Fatalf("the login name reached the auditor: %+v", a)
		}
	}
}
