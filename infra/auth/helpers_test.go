package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cheap are argon2id parameters fast enough for tests.
var cheap = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// usage collects recorded API key uses, standing in for the command layer.
type usage struct {
	mu   sync.Mutex
	uses []string
}

func (u *usage) RecordAPIKeyUse(ctx context.Context, keyID, orgID string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, ok := auth.FromContext(ctx)
	if !ok || p.KeyID != keyID || p.OrganizationID != orgID {
		return domain.E(domain.KindInternal, "usage", "the key's principal is not in the context")
	}
	u.uses = append(u.uses, orgID+"/"+keyID+"/"+p.UserID+p.AssistantID)
	return nil
}

func (u *usage) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.uses)
}

// auditEntry is one LoginAuditor call.
type auditEntry struct {
	ok                                   bool
	orgID, userID, digest, reason, ipStr string
}

// auditor collects login audit calls, standing in for the command layer.
type auditor struct {
	mu      sync.Mutex
	entries []auditEntry
}

func (a *auditor) LoginFailed(_ context.Context, orgID, loginDigest, reason, remoteIP string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, auditEntry{orgID: orgID, digest: loginDigest, reason: reason, ipStr: remoteIP})
}

func (a *auditor) LoginSucceeded(_ context.Context, orgID, userID, loginDigest, remoteIP string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, auditEntry{ok: true, orgID: orgID, userID: userID, digest: loginDigest, ipStr: remoteIP})
}

func (a *auditor) all() []auditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]auditEntry(nil), a.entries...)
}

// users maps (organisation, issuer, subject) to Arkiv users, standing in for the user read
// model.
type users map[[3]string]string

func (u users) ResolveOIDCUser(_ context.Context, orgID, issuer, subject, email string) (string, error) {
	if id, ok := u[[3]string{orgID, issuer, subject}]; ok {
		return id, nil
	}
	// {org, "email", address}: a user matched by a (verified) e-mail address.
	if id, ok := u[[3]string{orgID, "email", email}]; ok && email != "" {
		return id, nil
	}
	return "", domain.E(domain.KindNotFound, "users.resolve", "no such user")
}

// directory stands in for the users read model's active flags: every user is active until
// deactivated.
type directory struct {
	mu       sync.Mutex
	inactive map[string]bool
}

func (d *directory) UserActive(_ context.Context, _, userID string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.inactive[userID], nil
}

func (d *directory) deactivate(userID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inactive[userID] = true
}

// env is one test's authenticator over its own database.
type env struct {
	pool    *pgxpool.Pool
	pg      *auth.Postgres
	clock   *fakeClock
	usage   *usage
	audit   *auditor
	users   users
	dir     *directory
	logs    *bytes.Buffer
	a       *auth.Authenticator
	cfg     auth.Config
	loginKy []byte
}

func newEnv(t testing.TB, tweak func(*auth.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	e := &env{
		pool:    pool,
		pg:      auth.NewPostgres(pool),
		clock:   &fakeClock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)},
		usage:   &usage{},
		audit:   &auditor{},
		users:   users{},
		dir:     &directory{inactive: map[string]bool{}},
		logs:    &bytes.Buffer{},
		loginKy: key,
	}
	e.cfg = auth.Config{
		APIKeys: e.pg, Usage: e.usage, Settings: e.pg, OIDCUsers: e.users, Sessions: e.pg,
		Credentials: e.pg, Attempts: e.pg, Auditor: e.audit, Users: e.dir, LoginKey: key, Clock: e.clock,
		Log:    slog.New(slog.NewJSONHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Argon2: cheap,
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.a, err = auth.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lockedWriter serialises writes to the log buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// settings are ordinary test settings: 30 minutes idle, 12-character passwords with a digit.
func settings(mfa bool, providers ...auth.OIDCProvider) auth.AuthSettings {
	return auth.AuthSettings{
		SessionIdleTimeout: 30 * time.Minute,
		Password:           auth.PasswordPolicy{MinLength: 12, RequireDigit: true},
		MFARequired:        mfa,
		OIDC:               providers,
	}
}

func wantKind(t *testing.T, err error, k domain.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error %q, got none", k, msg)
	}
	if domain.KindOf(err) != k {
		t.Fatalf("want kind %s, got %s (%v)", k, domain.KindOf(err), err)
	}
	if msg != "" && domain.PublicMessage(err) != msg {
		t.Fatalf("want message %q, got %q", msg, domain.PublicMessage(err))
	}
}
