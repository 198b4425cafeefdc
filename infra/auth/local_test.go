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
	want := auth.Principal{UserID: "user-1", OrganizationID: "org-1", Method: auth.MethodSession, AuthenticatedAt: p.AuthenticatedAt}
	if p != want || !p.AuthenticatedAt.Equal(e.clock.Now()) {
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

// TestLoginRateLimited: failures from one address slow that address down progressively; the
// right password is refused, unchecked, while a delay runs, and works after it.
func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	wrong := func(i int) error {
		_, _, err := e.a.Login(ctx, "org-1", email, "wrong password "+string(rune('a'+i)), ip)
		return err
	}
	// Three failures are free.
	for i := range 3 {
		wantKind(t, wrong(i), domain.KindUnauthenticated, "invalid login or password")
	}
	// Then each attempt waits 1s, 2s, 4s… after the latest failure.
	for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		_, _, err := e.a.Login(ctx, "org-1", email, password, ip)
		wantKind(t, err, domain.KindForbidden, "too many failed attempts, try again later")
		if retry, ok := auth.RetryAfter(err); !ok || retry != delay {
			t.Fatalf("attempt %d: retry after %v %v, want %v", i, retry, ok, delay)
		}
		e.clock.Advance(delay)
		wantKind(t, wrong(i), domain.KindUnauthenticated, "invalid login or password")
	}
	audit := e.audit.all()
	digest := e.a.LoginDigest("org-1", email)
	locked := 0
	for i, a := range audit {
		if a.reason == auth.FailureLockedOut {
			locked++
		} else if a.reason != auth.FailureBadPassword {
			t.Fatalf("audit %d: %+v", i, a)
		}
		if a.ok || a.digest != digest || a.orgID != "org-1" || a.ipStr != ip || strings.Contains(a.digest, "lovelace") {
			t.Fatalf("audit %d: %+v", i, a)
		}
	}
	if len(audit) != 11 || locked != 4 {
		t.Fatalf("%d audit entries (%d refused unchecked), want 11 (4)", len(audit), locked)
	}
	// The delay is capped (5 minutes by default), never a lock: after it, the right password
	// works and clears the count.
	var most time.Duration
	for range 40 {
		retry, limited := auth.RetryAfter(wrong(0))
		if !limited {
			continue
		}
		if retry > 5*time.Minute {
			t.Fatalf("delay %v above the cap", retry)
		}
		most = max(most, retry)
		e.clock.Advance(retry)
	}
	if most != 5*time.Minute {
		t.Fatalf("longest delay %v, want the 5m cap", most)
	}
	e.clock.Advance(5 * time.Minute)
	if _, _, err := e.a.Login(ctx, "org-1", email, password, ip); err != nil {
		t.Fatal(err)
	}
	n, _, _, err := e.pg.Failures(ctx, [32]byte{}, time.Time{})
	if err != nil || n != 0 {
		t.Fatalf("failures of an unused digest: %d %v", n, err)
	}
}

// TestKnownLoginCannotBeLockedOut reproduces the lockout attack: strangers fail a known
// login again and again, from one address and from many. The owner, from their own address,
// still logs in at once after one address's attack, and within the per-login ceiling (30s)
// however many addresses attack.
func TestKnownLoginCannotBeLockedOut(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	const owner = "198.51.100.1"
	for i := range 8 {
		_, _, err := e.a.Login(ctx, "org-1", email, "wrong password "+string(rune('a'+i)), "203.0.113.9")
		if domain.KindOf(err) == domain.KindForbidden {
			e.clock.Advance(5 * time.Minute)
		}
	}
	if _, _, err := e.a.Login(ctx, "org-1", email, password, owner); err != nil {
		t.Fatalf("the owner after an attack from one address: %v", err)
	}
	// Two hundred addresses, a few tries each, as fast as the delays allow.
	for a := range 200 {
		addr := "203.0.113." + string(rune('0'+a%10)) + string(rune('0'+a/10%10)) + string(rune('0'+a/100))
		for i := range 3 {
			_, _, err := e.a.Login(ctx, "org-1", email, "wrong password "+string(rune('a'+i)), addr)
			if retry, ok := auth.RetryAfter(err); ok {
				if retry > 30*time.Second {
					t.Fatalf("delay %v above the per-login ceiling", retry)
				}
				e.clock.Advance(retry)
			}
		}
	}
	_, _, err := e.a.Login(ctx, "org-1", email, password, owner)
	if retry, ok := auth.RetryAfter(err); ok {
		if retry > 30*time.Second {
			t.Fatalf("the owner waits %v, above the ceiling", retry)
		}
		e.clock.Advance(retry)
		_, _, err = e.a.Login(ctx, "org-1", email, password, owner)
	}
	if err != nil {
		t.Fatalf("the owner after a distributed attack: %v", err)
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

// TestLocalLoginRefusedWhereMFARequired: where MFA is required, the right password and a
// wrong one get the same answer, and both count toward the limit (before the fix the right
// one got its own answer and was not counted, so the refusal confirmed guesses).
func TestLocalLoginRefusedWhereMFARequired(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	if err := e.pg.SetAuthSettings(ctx, "org-1", settings(true)); err != nil {
		t.Fatal(err)
	}
	_, _, errRight := e.a.Login(ctx, "org-1", email, password, ip)
	_, _, errWrong := e.a.Login(ctx, "org-1", email, "wrong password 1", ip)
	for _, err := range []error{errRight, errWrong} {
		wantKind(t, err, domain.KindUnauthenticated,
			"multi-factor authentication required: sign in through the organisation's identity provider")
	}
	if errRight.Error() != errWrong.Error() {
		t.Fatalf("%q vs %q", errRight, errWrong)
	}
	if a := e.audit.all(); len(a) != 2 || a[0].reason != auth.FailureMFARequired || a[1].reason != auth.FailureMFARequired {
		t.Fatalf("audit %+v", a)
	}
	_, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindUnauthenticated, "")
	// The third counted failure starts the delay: the right password is counted too.
	_, _, err = e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindForbidden, "too many failed attempts, try again later")
}

// TestInactiveUserEndsEveryCredential: once the user directory says a user is deactivated,
// their open session and their API key are refused and their right password opens no
// session (before the fix all three kept working).
func TestInactiveUserEndsEveryCredential(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	token, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t, e, "key-1", "org-1", domain.KeyOwnerUser, "user-1")
	for _, tok := range []string{token, key} {
		if _, err := e.a.AuthenticateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	e.dir.deactivate("user-1")
	for _, tok := range []string{token, key} {
		_, err := e.a.AuthenticateToken(ctx, tok)
		wantKind(t, err, domain.KindUnauthenticated, "user is not active")
	}
	_, _, err = e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")
	if a := e.audit.all(); a[len(a)-1].reason != auth.FailureInactiveUser {
		t.Fatalf("audit %+v", a[len(a)-1])
	}
}

// TestResetPasswordForcesChange: a password an Admin set opens a session flagged
// PasswordChangeRequired; the user's own new password clears the flag.
func TestResetPasswordForcesChange(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	if err := e.a.ResetPassword(ctx, "org-1", "user-1", email, "temporary passw0rd 1"); err != nil {
		t.Fatal(err)
	}
	token, _, err := e.a.Login(ctx, "org-1", email, "temporary passw0rd 1", ip)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.a.AuthenticateToken(ctx, token)
	if err != nil || !p.PasswordChangeRequired {
		t.Fatalf("principal %+v %v: want PasswordChangeRequired", p, err)
	}
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, "my own passw0rd 22"); err != nil {
		t.Fatal(err)
	}
	token, _, err = e.a.Login(ctx, "org-1", email, "my own passw0rd 22", ip)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.a.AuthenticateToken(ctx, token); err != nil || p.PasswordChangeRequired {
		t.Fatalf("principal %+v %v after the user's own change", p, err)
	}
}

// TestCheckPassword: the current password is verified; wrong guesses count as failed logins
// of the account and are slowed down like logins.
func TestCheckPassword(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	if err := e.a.CheckPassword(ctx, "org-1", "user-1", password); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.a.CheckPassword(ctx, "org-1", "user-2", password), domain.KindForbidden, "the current password is not correct")
	for range 3 {
		wantKind(t, e.a.CheckPassword(ctx, "org-1", "user-1", "wrong password 1"), domain.KindForbidden, "the current password is not correct")
	}
	err := e.a.CheckPassword(ctx, "org-1", "user-1", password)
	if _, ok := auth.RetryAfter(err); !ok {
		t.Fatalf("after three wrong guesses: %v, want rate limited", err)
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

// TestEndUserAccessAsOfTheEvent: the auth projection ends a user's local account and sessions
// as of the deactivation or erasure; a password set and a session opened later (after an
// erasure was restored) survive a replay of the old event.
func TestEndUserAccessAsOfTheEvent(t *testing.T) {
	t.Parallel()
	e := localEnv(t, nil)
	ctx := context.Background()
	old, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		t.Fatal(err)
	}
	at := e.clock.Now()
	end := func() {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := (auth.Tables{}).EndUserAccess(ctx, tx, "user-1", at); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	end()
	_, err = e.a.AuthenticateToken(ctx, old)
	wantKind(t, err, domain.KindUnauthenticated, "invalid session")
	_, _, err = e.a.Login(ctx, "org-1", email, password, ip)
	wantKind(t, err, domain.KindUnauthenticated, "invalid login or password")

	e.clock.Advance(time.Hour)
	if err := e.a.ResetPassword(ctx, "org-1", "user-1", email, "after the restore 1"); err != nil {
		t.Fatal(err)
	}
	later, _, err := e.a.Login(ctx, "org-1", email, "after the restore 1", ip)
	if err != nil {
		t.Fatal(err)
	}
	end() // a rebuild replays the old event
	if _, err := e.a.AuthenticateToken(ctx, later); err != nil {
		t.Fatalf("a later session after a replay: %v", err)
	}
	if _, _, err := e.a.Login(ctx, "org-1", email, "after the restore 1", ip); err != nil {
		t.Fatalf("a later password after a replay: %v", err)
	}
}

// TestPasswordMaxAgeForcesANewPassword: a login with a password older than maxAgeDays opens
// a session that may only set a new password, and the expired password itself is refused as
// the new one; a fresh password logs in normally.
func TestPasswordMaxAgeForcesANewPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := settings(false)
	s.Password.MaxAgeDays = 90
	if err := e.pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		t.Fatal(err)
	}
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, password); err != nil {
		t.Fatal(err)
	}
	login := func(pw string) auth.Principal {
		t.Helper()
		token, _, err := e.a.Login(ctx, "org-1", email, pw, ip)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.a.AuthenticateToken(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.clock.Advance(89 * 24 * time.Hour)
	if p := login(password); p.PasswordChangeRequired {
		t.Fatal("a password of 89 days must still be usable under a 90-day policy")
	}
	e.clock.Advance(24 * time.Hour)
	if p := login(password); !p.PasswordChangeRequired {
		t.Fatal("a login with a password of 90 days must require a new one")
	}
	wantKind(t, e.a.SetPassword(ctx, "org-1", "user-1", email, password), domain.KindInvalid,
		"password does not meet the organisation's policy: it must differ from the current password")
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, "a fresh passw0rd 90"); err != nil {
		t.Fatal(err)
	}
	if p := login("a fresh passw0rd 90"); p.PasswordChangeRequired {
		t.Fatal("a new password must not require a change")
	}
}

// TestPasswordHistoryRefusesReuse: with historyEntries N none of the last N passwords may be
// set again; the one before them may.
func TestPasswordHistoryRefusesReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	s := settings(false)
	s.Password.HistoryEntries = 3
	if err := e.pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		t.Fatal(err)
	}
	pws := []string{"first passw0rd one", "second passw0rd two", "third passw0rd three", "fourth passw0rd four"}
	for _, pw := range pws {
		if err := e.a.SetPassword(ctx, "org-1", "user-1", email, pw); err != nil {
			t.Fatal(err)
		}
	}
	for _, pw := range pws[1:] {
		wantKind(t, e.a.ResetPassword(ctx, "org-1", "user-1", email, pw), domain.KindInvalid,
			"password does not meet the organisation's policy: it must differ from the last 3 passwords")
	}
	// The first is four passwords back: allowed again.
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, pws[0]); err != nil {
		t.Fatalf("a password older than the history: %v", err)
	}
	// Without a history rule, reuse is allowed.
	s.Password.HistoryEntries = 0
	if err := e.pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		t.Fatal(err)
	}
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, pws[0]); err != nil {
		t.Fatal(err)
	}
}
