package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

const (
	password = "correct horse 42 battery"
	email    = "Ada.Lovelace@example.org"
	ip       = "192.0.2.7"
)

func localEnv(t *testing.T, tweak func(*auth.Config)) *env {
	t.Helper()
	e := newEnv(t, tweak)
	ctx := context.Background()
	if err := e.pg.SetAuthSettings(ctx, "org-1", settings(false)); err != nil {
		t.Fatal(err)
	}
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, password); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLocalLoginAndSessionIdleExpiry(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()

	// Logins are case- and space-insensitive in the login name.
	token, idle, err := e.a.Login(ctx, "org-1", " ada.lovelace@EXAMPLE.org", password, ip)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, auth.SessionPrefix) || idle != 30*time.Minute {
		t.Fatalf("token prefix or idle timeout wrong: %v", idle)
	}
	p, err := e.a.AuthenticateToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Principal{UserID: "user-1", OrganizationID: "org-1", Method: auth.MethodSession}
	if p != want {
		t.Fatalf("principal %+v", p)
	}

	// Use within the idle timeout keeps the session alive well past 30 minutes in total.
	for range 3 {
		e.clock.Advance(20 * time.Minute)
		if _, err := e.a.AuthenticateToken(ctx, token); err != nil {
			t.Fatalf("session used every 20 minutes: %v", err)
		}
	}
	e.clock.Advance(30*time.Minute + time.Second)
	_, err = e.a.AuthenticateToken(ctx, token)
	wantKind(t, err, domain.KindUnauthenticated, "session expired")

	// The store holds only the token's hash.
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM auth_sessions WHERE token_hash = $1::bytea`, []byte(token)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("session stored in the clear: %d %v", n, err)
	}
	gone, err := e.pg.DeleteDeadSessions(ctx, e.clock.Now())
	if err != nil || gone != 1 {
		t.Fatalf("dead sessions deleted: %d %v", gone, err)
	}

	audit := e.audit.all()
	if len(audit) != 1 || !audit[0].ok || audit[0].userID != "user-1" || audit[0].digest != e.a.LoginDigest("org-1", email) {
		t.Fatalf("audit %+v", audit)
	}
}

func TestSessionLastSeenWrittenAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	token, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	lastSeen := func() time.Time {
		var ts time.Time
		if err := e.pool.QueryRow(ctx, `SELECT last_seen_at FROM auth_sessions`).Scan(&ts); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	e.clock.Advance(10 * time.Second)
	if _, err := e.a.AuthenticateToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	if !lastSeen().Equal(start) {
		t.Fatal("last_seen_at written within the touch interval")
	}
	e.clock.Advance(25 * time.Second)
	if _, err := e.a.AuthenticateToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	if !lastSeen().Equal(e.clock.Now()) {
		t.Fatal("last_seen_at not moved after the touch interval")
	}
}

func TestLogoutAndRevocation(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	t1, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	t2, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.Logout(ctx, t1); err != nil {
		t.Fatal(err)
	}
	_, err = e.a.AuthenticateToken(ctx, t1)
	wantKind(t, err, domain.KindUnauthenticated, "invalid session")
	if _, err := e.a.AuthenticateToken(ctx, t2); err != nil {
		t.Fatal(err)
	}
	// A new password ends the other sessions.
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, "another good passw0rd"); err != nil {
		t.Fatal(err)
	}
	_, err = e.a.AuthenticateToken(ctx, t2)
	wantKind(t, err, domain.KindUnauthenticated, "invalid session")
	_, _, err = e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
	t3, _, err := e.a.Login(ctx, "org-1", email, "another good passw0rd", ip)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.RemoveLocalAccount(ctx, "user-1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.a.AuthenticateToken(ctx, t3)
	wantKind(t, err, domain.KindUnauthenticated, "invalid session")
	_, _, err = e.a.Login(ctx, "org-1", email, "another good passw0rd", ip)
	wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
}

func TestUnknownLoginAndWrongPasswordLookTheSame(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	_, _, errWrong := e.a.Login(ctx, "org-1", email, "wrong password 1", ip)
	_, _, errUnknown := e.a.Login(ctx, "org-1", "nobody@example.org", password, ip)
	_, _, errOtherOrg := e.a.Login(ctx, "org-2", email, password, ip)
	for _, err := range []error{errWrong, errUnknown, errOtherOrg} {
		wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
	}
	if errWrong.Error() != errUnknown.Error() {
		t.Fatalf("%q vs %q", errWrong, errUnknown)
	}
	reasons := []string{}
	for _, a := range e.audit.all() {
		reasons = append(reasons, a.reason)
	}
	want := []string{auth.FailureBadPassword, auth.FailureUnknownLogin, auth.FailureUnknownOrganization}
	if strings.Join(reasons, ",") != strings.Join(want, ",") {
		t.Fatalf("audit reasons %v, want %v", reasons, want)
	}
}

func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	for i := range 5 {
		_, _, err := e.a.Login(ctx, "org-1", email, "wrong password "+string(rune('a'+i)), ip)
		wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
		e.clock.Advance(time.Minute)
	}
	// Locked out: even the right password is refused, without being checked.
	_, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindForbidden, "too many failed attempts, try again later")
	retry, ok := auth.RetryAfter(err)
	if !ok || retry != 10*time.Minute {
		t.Fatalf("retry after %v %v, want 10m (oldest failure 5 minutes ago, window 15)", retry, ok)
	}
	audit := e.audit.all()
	if len(audit) != 6 {
		t.Fatalf("%d audit entries, want 6", len(audit))
	}
	digest := e.a.LoginDigest("org-1", email)
	for i, a := range audit {
		want := auth.FailureBadPassword
		if i == 5 {
			want = auth.FailureLockedOut
		}
		if a.ok || a.reason != want || a.digest != digest || a.orgID != "org-1" || a.ipStr != ip {
			t.Fatalf("audit %d: %+v", i, a)
		}
		if strings.Contains(a.digest, "lovelace") {
			t.Fatal("the login name reached the auditor")
		}
	}
	// Another login from another address is not affected.
	if err := e.a.SetPassword(ctx, "org-1", "user-2", "grace@example.org", password); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.a.Login(ctx, "org-1", "grace@example.org", password, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	// Once the oldest failure leaves the window, the right password works and clears the count.
	e.clock.Advance(10 * time.Minute)
	if _, _, err := e.a.Login(ctx, "org-1", email, password, ip); err != nil {
		t.Fatal(err)
	}
	n, _, err := e.pg.Failures(ctx, [32]byte{}, time.Time{})
	if err != nil || n != 0 {
		t.Fatalf("failures of an unused digest: %d %v", n, err)
	}
}

func TestLoginRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := localEnv(t, func(c *auth.Config) { c.IPFailureLimit = 3 })
	ctx := context.Background()
	for i := range 3 {
		_, _, err := e.a.Login(ctx, "org-1", "guess"+string(rune('a'+i))+"@example.org", "some password 1", ip)
		wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
	}
	_, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindForbidden, "too many failed attempts, try again later")
	if _, _, err := e.a.Login(ctx, "org-1", email, password, "198.51.100.1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestLocalLoginRefusedWhereMFARequired(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	if err := e.pg.SetAuthSettings(ctx, "org-1", settings(true)); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindUnauthenticated,
		"multi-factor authentication required: sign in through the organisation's identity provider")
	if a := e.audit.all(); len(a) != 1 || a[0].reason != auth.FailureMFARequired {
		t.Fatalf("audit %+v", a)
	}
}

func TestPasswordPolicyEnforcedOnSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := settings(false)
	s.Password = auth.PasswordPolicy{MinLength: 14, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSymbol: true}
	if err := e.pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		t.Fatal(err)
	}
	err := e.a.SetPassword(ctx, "org-1", "user-1", email, "short")
	wantKind(t, err, domain.KindInvalid,
		"password does not meet the organisation's policy: at least 14 characters; an upper-case letter; a digit; a symbol")
	err = e.a.SetPassword(ctx, "org-1", "user-1", email, "My ada.lovelace 2026!")
	wantKind(t, err, domain.KindInvalid, "password does not meet the organisation's policy: must not contain the login name")
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, "Tr0ub4dor & 3 horses"); err != nil {
		t.Fatal(err)
	}
	// A login already held by another user is a conflict.
	err = e.a.SetPassword(ctx, "org-1", "user-2", email, "Tr0ub4dor & 3 horses")
	wantKind(t, err, domain.KindConflict, "")
	err = e.a.SetPassword(ctx, "org-9", "user-3", email, "Tr0ub4dor & 3 horses")
	wantKind(t, err, domain.KindNotFound, "")
}

func TestWeakHashUpgradedOnLogin(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	stronger := e.cfg
	stronger.Argon2 = auth.Argon2Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	a2, err := auth.New(stronger)
	if err != nil {
		t.Fatal(err)
	}
	phc := func() string {
		var s string
		if err := e.pool.QueryRow(ctx, `SELECT password_hash FROM auth_local_credentials`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if !strings.HasPrefix(phc(), "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored %q", phc())
	}
	if _, _, err := a2.Login(ctx, "org-1", email, password, ip); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc(), "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("not upgraded: %q", phc())
	}
	// The weaker authenticator still verifies the stronger hash and does not downgrade it.
	if _, _, err := e.a.Login(ctx, "org-1", email, password, ip); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc(), "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("downgraded: %q", phc())
	}
}
