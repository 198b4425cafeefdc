package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// newKey makes an API key as the command layer does and stores it in the read model.
func newKey(t testing.TB, e *env, keyID, org, ownerKind, owner string) string {
	t.Helper()
	secret, prefix, _, err := domain.GenerateAPIKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec := auth.APIKeyRecord{KeyID: keyID, OrganizationID: org, OwnerKind: ownerKind, OwnerID: owner, Hash: auth.HashAPIKey(secret)}
	if err := e.pg.PutAPIKey(context.Background(), rec, prefix, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return secret
}

// serve sends a request with the Authorization header through the middleware and returns the
// response and the principal the handler saw.
func serve(t *testing.T, a *auth.Authenticator, authz string) (*httptest.ResponseRecorder, auth.Principal, bool) {
	t.Helper()
	var (
		got auth.Principal
		ok  bool
	)
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = auth.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, got, ok
}

type gqlError struct {
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) (string, string) {
	t.Helper()
	var g gqlError
	if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil || len(g.Errors) != 1 {
		t.Fatalf("want one GraphQL error, got %q (%v)", rec.Body.String(), err)
	}
	return g.Errors[0].Message, g.Errors[0].Extensions.Code
}

func TestAPIKeyAcceptedThenRefusedAfterRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	key := newKey(t, e, "key-1", "org-1", domain.KeyOwnerUser, "user-1")

	rec, p, ok := serve(t, e.a, "Bearer "+key)
	if rec.Code != http.StatusNoContent || !ok {
		t.Fatalf("valid key: status %d, principal %v", rec.Code, ok)
	}
	want := auth.Principal{UserID: "user-1", OrganizationID: "org-1", Method: auth.MethodAPIKey, KeyID: "key-1"}
	if p != want {
		t.Fatalf("principal %+v, want %+v", p, want)
	}
	if n := e.usage.count(); n != 1 || e.usage.uses[0] != "org-1/key-1/user-1" {
		t.Fatalf("first use: %v recorded, want org-1/key-1/user-1", e.usage.uses)
	}

	if err := e.pg.RevokeAPIKey(ctx, "key-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rec, _, ok = serve(t, e.a, "Bearer "+key)
	if rec.Code != http.StatusUnauthorized || ok {
		t.Fatalf("revoked key: status %d, principal %v", rec.Code, ok)
	}
	msg, code := decodeError(t, rec)
	if msg != "invalid API key" || code != "UNAUTHENTICATED" {
		t.Fatalf("revoked key: %q %q", msg, code)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("headers %v", rec.Header())
	}
}

func TestAPIKeyUnknownAndRevokedLookTheSame(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	revoked := newKey(t, e, "key-r", "org-1", domain.KeyOwnerUser, "user-1")
	if err := e.pg.RevokeAPIKey(ctx, "key-r", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	unknown, _, _, _ := domain.GenerateAPIKey(rand.Reader)
	_, errRevoked := e.a.AuthenticateToken(ctx, revoked)
	_, errUnknown := e.a.AuthenticateToken(ctx, unknown)
	_, errMalformed := e.a.AuthenticateToken(ctx, "arkiv_short")
	for _, err := range []error{errRevoked, errUnknown, errMalformed} {
		wantKind(t, err, domain.KindUnauthenticated, "invalid API key")
	}
	if errRevoked.Error() != errUnknown.Error() {
		t.Fatalf("revoked %q and unknown %q differ", errRevoked, errUnknown)
	}
	if e.usage.count() != 0 {
		t.Fatal("a refused key was recorded as used")
	}
}

func TestAPIKeyUseIsThrottledPerMinute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	key := newKey(t, e, "key-1", "org-1", domain.KeyOwnerUser, "user-1")
	for range 5 {
		if _, err := e.a.AuthenticateToken(ctx, key); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(10 * time.Second)
	}
	if n := e.usage.count(); n != 1 {
		t.Fatalf("5 uses in 50s recorded %d times, want 1", n)
	}
	e.clock.Advance(15 * time.Second)
	if _, err := e.a.AuthenticateToken(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := e.usage.count(); n != 2 {
		t.Fatalf("use after a minute: %d recorded, want 2", n)
	}
}

func TestAssistantKeyHasNoUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := newKey(t, e, "key-a", "org-1", domain.KeyOwnerAssistant, "assistant-1")
	p, err := e.a.AuthenticateToken(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != "" || p.AssistantID != "assistant-1" || p.KeyID != "key-a" {
		t.Fatalf("principal %+v", p)
	}
}

func TestMiddlewareAnonymousAndMalformed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rec, _, ok := serve(t, e.a, "")
	if rec.Code != http.StatusNoContent || ok {
		t.Fatalf("anonymous request: status %d, principal %v", rec.Code, ok)
	}
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer nonsense", "Bearer a.b"} {
		rec, _, ok := serve(t, e.a, h)
		if rec.Code != http.StatusUnauthorized || ok {
			t.Fatalf("%q: status %d, principal %v", h, rec.Code, ok)
		}
		if _, code := decodeError(t, rec); code != "UNAUTHENTICATED" {
			t.Fatalf("%q: code %s", h, code)
		}
	}
}

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	for addr, want := range map[string]string{"192.0.2.1:1234": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "pipe": "pipe"} {
		r.RemoteAddr = addr
		if got := auth.RemoteIP(r); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

// countingDirectory counts the questions asked of the user directory.
type countingDirectory struct {
	auth.UserDirectory
	asked int
}

func (d *countingDirectory) UserActive(ctx context.Context, orgID, userID string) (bool, error) {
	d.asked++
	return d.UserDirectory.UserActive(ctx, orgID, userID)
}

// TestAPIKeyOwnerStateComesWithTheKey: when the users read model has the key's owner, the
// lookup brings the owner's state along and the directory is not asked; a deactivated or
// erased owner's key is refused from that state alone, and a key of an owner the read
// model does not have falls back to the directory.
func TestAPIKeyOwnerStateComesWithTheKey(t *testing.T) {
	t.Parallel()
	dir := &countingDirectory{}
	e := newEnv(t, func(c *auth.Config) { dir.UserDirectory = c.Users; c.Users = dir })
	ctx := context.Background()
	putUser := func(id string, active, erased bool) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, `INSERT INTO users (user_id, organization_id, role, active, erased, registered_at, position)
			VALUES ($1, 'org-1', 'USER', $2, $3, now(), 1)`, id, active, erased); err != nil {
			t.Fatal(err)
		}
	}
	putUser("user-active", true, false)
	putUser("user-deactivated", false, false)
	putUser("user-erased", true, true)
	for owner, ok := range map[string]bool{"user-active": true, "user-deactivated": false, "user-erased": false} {
		key := newKey(t, e, "key-"+owner, "org-1", domain.KeyOwnerUser, owner)
		p, err := e.a.AuthenticateToken(ctx, key)
		if ok && (err != nil || p.UserID != owner) {
			t.Fatalf("%s: %+v %v", owner, p, err)
		}
		if !ok {
			wantKind(t, err, domain.KindUnauthenticated, "user is not active")
		}
	}
	if dir.asked != 0 {
		t.Fatalf("the directory was asked %d times about owners the key lookup knew", dir.asked)
	}
	// Not in the read model: the directory decides (here: deactivated).
	e.dir.deactivate("user-unknown")
	key := newKey(t, e, "key-unknown", "org-1", domain.KeyOwnerUser, "user-unknown")
	_, err := e.a.AuthenticateToken(ctx, key)
	wantKind(t, err, domain.KindUnauthenticated, "user is not active")
	if dir.asked != 1 {
		t.Fatalf("the directory was asked %d times, want 1", dir.asked)
	}
}
