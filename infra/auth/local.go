package auth

import (
	"context"
	"crypto/sha256"
	"time"
	"unicode/utf8"

	"github.com/arkiv/arkiv/domain"
)

// authenticateSession checks a session token: known, not revoked, and used within the idle
// timeout. Use moves last_seen_at forward, written at most once per TouchInterval.
func (a *Authenticator) authenticateSession(ctx context.Context, token string) (Principal, error) {
	const op = "auth.session"
	invalid := func() error { return domain.E(domain.KindUnauthenticated, op, "invalid session") }
	if !wellFormedSession(token) {
		return Principal{}, invalid()
	}
	h := sha256.Sum256([]byte(token))
	s, err := a.cfg.Sessions.LookupSession(ctx, h)
	if domain.Is(domain.KindNotFound, err) {
		return Principal{}, invalid()
	}
	if err != nil {
		return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be checked right now")
	}
	if s.Revoked {
		return Principal{}, invalid()
	}
	now := a.clock.Now()
	idle := now.Sub(s.LastSeenAt)
	if idle > s.IdleTimeout {
		return Principal{}, domain.E(domain.KindUnauthenticated, op, "session expired")
	}
	if idle >= a.cfg.TouchInterval && touches(ctx) {
		if err := a.cfg.Sessions.TouchSession(ctx, h, now); err != nil {
			return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be checked right now")
		}
	}
	return Principal{UserID: s.UserID, OrganizationID: s.OrganizationID, Method: MethodSession, MFA: s.MFA,
		AuthenticatedAt: s.CreatedAt, PasswordChangeRequired: s.PasswordChangeRequired}, nil
}

// Login checks a local account's password and opens a session. It returns the session token
// ("as_…", shown to the client once and stored only as its SHA-256) and the organisation's
// idle timeout, after which an unused session expires. A password an Admin set for the user
// opens a session that may only change it (Principal.PasswordChangeRequired).
//
// Refusals: an unknown login, a wrong password and a deactivated or erased user give the
// same domain.KindUnauthenticated error and take the same time. Failures slow further
// attempts down (see Config.PairFreeFailures): an attempt that comes too early is refused
// with a domain.KindForbidden error carrying a RateLimitedError (see RetryAfter) without
// checking the password. An organisation that requires MFA refuses every password login
// with one answer, whether the password is right or wrong, and counts each as a failure.
// Every refusal and every success is reported to the LoginAuditor. A password hashed with
// weaker parameters than Config.Argon2 is re-hashed.
func (a *Authenticator) Login(ctx context.Context, orgID, login, password, remoteIP string) (string, time.Duration, error) {
	const op = "auth.Login"
	invalid := func() error { return domain.E(domain.KindUnauthenticated, op, "invalid login or password") }
	if orgID == "" || normaliseLogin(login) == "" || password == "" {
		return "", 0, domain.E(domain.KindInvalid, op, "organisation, login and password are required")
	}
	loginKey := a.loginDigest(orgID, login)
	digest := hexString(loginKey[:])
	keys := attemptKeys{login: loginKey, pair: a.digest("login-ip", orgID, normaliseLogin(login), remoteIP), ip: a.digest("ip", remoteIP)}
	fail := func(reason string, err error) (string, time.Duration, error) {
		a.cfg.Auditor.LoginFailed(ctx, orgID, digest, reason, remoteIP)
		a.log.InfoContext(ctx, "login refused", "organization_id", orgID, "reason", reason)
		return "", 0, err
	}
	unavailable := func(err error) (string, time.Duration, error) {
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
	}
	// No account has a password this long (SetPassword caps it), so it is not hashed.
	if utf8.RuneCountInString(password) > DefaultMaxPasswordLength || len(login) > 320 {
		return fail(FailureBadPassword, invalid())
	}

	settings, err := a.cfg.Settings.AuthSettings(ctx, orgID)
	if domain.Is(domain.KindNotFound, err) {
		return fail(FailureUnknownOrganization, invalid())
	}
	if err != nil {
		return unavailable(err)
	}

	now := a.clock.Now()
	since := now.Add(-a.cfg.FailureWindow)
	if retry, limited, err := a.throttled(ctx, keys, since, now); err != nil {
		return unavailable(err)
	} else if limited {
		return fail(FailureLockedOut, errRateLimited(op, retry))
	}

	cred, err := a.cfg.Credentials.LookupCredential(ctx, orgID, loginKey)
	known := err == nil
	if err != nil && !domain.Is(domain.KindNotFound, err) {
		return unavailable(err)
	}
	phc := a.dummyPHC
	if known {
		phc = cred.PasswordHash
	}
	if err := a.acquireHash(ctx); err != nil {
		return "", 0, err
	}
	ok, params, verr := VerifyPassword(password, phc)
	a.releaseHash()
	if verr != nil {
		return "", 0, domain.Wrap(domain.KindInternal, op, verr, "stored password hash is unreadable")
	}
	// An organisation that demands a second factor refuses every password login the same
	// way, since local accounts have none: a right password must not be told from a wrong
	// one, and both count, so the refusal cannot serve to guess passwords.
	if settings.MFARequired || !known || !ok {
		if err := a.recordFailure(ctx, keys, now, since); err != nil {
			return unavailable(err)
		}
		switch {
		case settings.MFARequired:
			return fail(FailureMFARequired, domain.E(domain.KindUnauthenticated, op,
				"multi-factor authentication required: sign in through the organisation's identity provider"))
		case !known:
			return fail(FailureUnknownLogin, invalid())
		}
		return fail(FailureBadPassword, invalid())
	}
	if err := a.checkActive(ctx, op, orgID, cred.UserID); domain.Is(domain.KindUnauthenticated, err) {
		return fail(FailureInactiveUser, invalid())
	} else if err != nil {
		return "", 0, err
	}

	if params.weakerThan(a.cfg.Argon2) {
		a.upgradeHash(ctx, cred, password, now)
	}
	for _, k := range [][32]byte{keys.pair, keys.login} {
		if err := a.cfg.Attempts.ClearFailures(ctx, k); err != nil {
			return unavailable(err)
		}
	}
	idle := settings.SessionIdleTimeout
	if idle <= 0 {
		idle = DefaultSessionIdleTimeout
	}
	token := randomToken(SessionPrefix)
	// A password older than the policy's maximum age opens a session that may only set a new
	// one, like a password an Admin set.
	mustChange := cred.MustChange || settings.Password.Expired(cred.UpdatedAt, now)
	s := Session{TokenHash: sha256.Sum256([]byte(token)), UserID: cred.UserID, OrganizationID: orgID,
		CreatedAt: now, LastSeenAt: now, IdleTimeout: idle, PasswordChangeRequired: mustChange}
	if err := a.cfg.Sessions.CreateSession(ctx, s); err != nil {
		return unavailable(err)
	}
	a.cfg.Auditor.LoginSucceeded(ctx, orgID, cred.UserID, digest, remoteIP)
	return token, idle, nil
}

// DefaultSessionIdleTimeout applies when an organisation's settings name no idle timeout.
const DefaultSessionIdleTimeout = 30 * time.Minute

// attemptKeys are the digests failed logins are counted under: the login, the login from
// one remote address, and the remote address.
type attemptKeys struct{ login, pair, ip [32]byte }

// recordFailure counts a failed attempt under every key.
func (a *Authenticator) recordFailure(ctx context.Context, keys attemptKeys, now, since time.Time) error {
	for _, k := range [][32]byte{keys.login, keys.pair, keys.ip} {
		if err := a.cfg.Attempts.RecordFailure(ctx, k, now, since); err != nil {
			return err
		}
	}
	return nil
}

// throttled reports whether an attempt now comes too early, and how long until it would not:
// the (login, address) pair's and the login's progressive delays after their latest failure,
// and the address's failure limit.
func (a *Authenticator) throttled(ctx context.Context, keys attemptKeys, since, now time.Time) (time.Duration, bool, error) {
	var wait time.Duration
	for _, d := range []struct {
		key         [32]byte
		free        int
		base, limit time.Duration
	}{
		{keys.pair, a.cfg.PairFreeFailures, a.cfg.PairBaseDelay, a.cfg.PairMaxDelay},
		{keys.login, a.cfg.LoginFailureLimit, a.cfg.LoginBaseDelay, a.cfg.LoginMaxDelay},
	} {
		n, _, latest, err := a.cfg.Attempts.Failures(ctx, d.key, since)
		if err != nil {
			return 0, false, err
		}
		if w := latest.Add(progressiveDelay(n, d.free, d.base, d.limit)).Sub(now); n >= d.free && w > wait {
			wait = w
		}
	}
	n, oldest, _, err := a.cfg.Attempts.Failures(ctx, keys.ip, since)
	if err != nil {
		return 0, false, err
	}
	if n >= a.cfg.IPFailureLimit {
		if w := oldest.Add(a.cfg.FailureWindow).Sub(now); w > wait {
			wait = w
		}
	}
	return wait, wait > 0, nil
}

// progressiveDelay is the wait after the latest of n failures: none below free, then base,
// doubling with each further failure, at most limit.
func progressiveDelay(n, free int, base, limit time.Duration) time.Duration {
	if n < free {
		return 0
	}
	d := base
	for i := free; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// upgradeHash re-hashes a verified password with the current parameters. A failure is logged
// and leaves the old hash: the login itself succeeded.
func (a *Authenticator) upgradeHash(ctx context.Context, cred Credential, password string, now time.Time) {
	if err := a.acquireHash(ctx); err != nil {
		return
	}
	phc, err := HashPassword(password, a.cfg.Argon2)
	a.releaseHash()
	if err == nil {
		// The password is the same: its age and the history stay as they are.
		cred.PasswordHash, cred.Rehash = phc, true
		err = a.cfg.Credentials.PutCredential(ctx, cred)
	}
	if err != nil {
		a.log.WarnContext(ctx, "upgrading a password hash failed", "organization_id", cred.OrganizationID,
			"kind", domain.KindOf(err).String())
	}
}

// Logout revokes the session of token. An unknown or already revoked session is not an error.
func (a *Authenticator) Logout(ctx context.Context, token string) error {
	const op = "auth.Logout"
	if !wellFormedSession(token) {
		return domain.E(domain.KindInvalid, op, "not a session token")
	}
	if err := a.cfg.Sessions.RevokeSession(ctx, sha256.Sum256([]byte(token)), a.clock.Now()); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "logout is not possible right now")
	}
	return nil
}

// RevokeUserSessions ends every session of userID, e.g. when the user is deactivated, and
// returns how many were open.
func (a *Authenticator) RevokeUserSessions(ctx context.Context, userID string) (int, error) {
	const op = "auth.RevokeUserSessions"
	n, err := a.cfg.Sessions.RevokeUserSessions(ctx, userID, a.clock.Now())
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be revoked right now")
	}
	return n, nil
}

// SetPassword sets the local-account password of userID in orgID, reachable by login (an
// e-mail address or user name, stored only as its digest). The password must meet the
// organisation's policy (a domain.KindInvalid error lists the unmet rules). The user's open
// sessions are revoked, so a changed password ends sessions opened with the old one.
func (a *Authenticator) SetPassword(ctx context.Context, orgID, userID, login, password string) error {
	return a.putPassword(ctx, "auth.SetPassword", orgID, userID, login, password, false)
}

// ResetPassword is SetPassword for an Admin setting another user's password: the user's next
// login opens a session that may only change it.
func (a *Authenticator) ResetPassword(ctx context.Context, orgID, userID, login, password string) error {
	return a.putPassword(ctx, "auth.ResetPassword", orgID, userID, login, password, true)
}

func (a *Authenticator) putPassword(ctx context.Context, op, orgID, userID, login, password string, mustChange bool) error {
	if orgID == "" || userID == "" || normaliseLogin(login) == "" {
		return domain.E(domain.KindInvalid, op, "organisation, user and login are required")
	}
	if len(login) > 320 {
		return domain.E(domain.KindInvalid, op, "login must be at most 320 bytes")
	}
	settings, err := a.cfg.Settings.AuthSettings(ctx, orgID)
	if err != nil {
		if domain.Is(domain.KindNotFound, err) {
			return domain.Wrap(domain.KindNotFound, op, err, "the organisation has no authentication settings")
		}
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be set right now")
	}
	if err := settings.Password.Check(password, login); err != nil {
		return err
	}
	if err := a.checkReuse(ctx, op, orgID, userID, password, settings.Password); err != nil {
		return err
	}
	if err := a.acquireHash(ctx); err != nil {
		return err
	}
	phc, err := HashPassword(password, a.cfg.Argon2)
	a.releaseHash()
	if err != nil {
		return err
	}
	now := a.clock.Now()
	c := Credential{OrganizationID: orgID, Login: a.loginDigest(orgID, login), UserID: userID, PasswordHash: phc,
		UpdatedAt: now, MustChange: mustChange}
	if err := a.cfg.Credentials.PutCredential(ctx, c); err != nil {
		if k := domain.KindOf(err); k == domain.KindConflict || k == domain.KindInvalid {
			return err
		}
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be set right now")
	}
	if _, err := a.cfg.Sessions.RevokeUserSessions(ctx, userID, now); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be revoked right now")
	}
	return nil
}

// checkReuse refuses a password that is one of the account's last policy.HistoryEntries
// passwords (the current one included), with a domain.KindInvalid error. A policy with a
// maximum age always refuses the current password, so an expired one is really replaced.
func (a *Authenticator) checkReuse(ctx context.Context, op, orgID, userID, password string, policy PasswordPolicy) error {
	n := min(policy.HistoryEntries, MaxPasswordHistory)
	if policy.MaxAgeDays > 0 && n < 1 {
		n = 1
	}
	if n <= 0 {
		return nil
	}
	hashes, err := a.cfg.Credentials.PasswordHistory(ctx, userID, n)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be set right now")
	}
	// An account set before the history was kept has its current hash only.
	if cur, err := a.cfg.Credentials.UserCredential(ctx, orgID, userID); err == nil && len(hashes) == 0 {
		hashes = append(hashes, cur.PasswordHash)
	} else if err != nil && !domain.Is(domain.KindNotFound, err) {
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be set right now")
	}
	for _, h := range hashes {
		if err := a.acquireHash(ctx); err != nil {
			return err
		}
		ok, _, verr := VerifyPassword(password, h)
		a.releaseHash()
		if verr != nil {
			return domain.Wrap(domain.KindInternal, op, verr, "stored password hash is unreadable")
		}
		if ok {
			if n == 1 {
				return domain.E(domain.KindInvalid, op, "password does not meet the organisation's policy: it must differ from the current password")
			}
			return domain.Errorf(domain.KindInvalid, op, "password does not meet the organisation's policy: it must differ from the last %d passwords", n)
		}
	}
	return nil
}

// HasPassword reports whether userID has a local account (a password) in orgID.
func (a *Authenticator) HasPassword(ctx context.Context, orgID, userID string) (bool, error) {
	_, err := a.cfg.Credentials.UserCredential(ctx, orgID, userID)
	if domain.Is(domain.KindNotFound, err) {
		return false, nil
	}
	if err != nil {
		return false, domain.Wrap(domain.KindUnavailable, "auth.HasPassword", err, "passwords cannot be checked right now")
	}
	return true, nil
}

// CheckPassword verifies userID's current local-account password, e.g. before the user sets
// a new one. A wrong password is a domain.KindForbidden error and counts as a failed login
// of the account (so a stolen session cannot guess it faster than a login could); a user
// without a local account is refused the same way. While the account's logins are slowed
// down, the answer is a rate-limited KindForbidden error (RetryAfter) without a check.
func (a *Authenticator) CheckPassword(ctx context.Context, orgID, userID, password string) error {
	const op = "auth.CheckPassword"
	wrong := func() error { return domain.E(domain.KindForbidden, op, "the current password is not correct") }
	if orgID == "" || userID == "" || password == "" || utf8.RuneCountInString(password) > DefaultMaxPasswordLength {
		return wrong()
	}
	cred, err := a.cfg.Credentials.UserCredential(ctx, orgID, userID)
	known := err == nil
	if err != nil && !domain.Is(domain.KindNotFound, err) {
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be checked right now")
	}
	now := a.clock.Now()
	since := now.Add(-a.cfg.FailureWindow)
	// Failures count toward the account's login (whatever the address) and toward a pair of
	// the account's own, so this path is slowed down like logins are.
	keys := attemptKeys{login: cred.Login, pair: a.digest("current-password", orgID, userID), ip: a.digest("user", orgID, userID)}
	if !known {
		keys.login = a.digest("no-account", orgID, userID)
	}
	if retry, limited, err := a.throttled(ctx, keys, since, now); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be checked right now")
	} else if limited {
		return errRateLimited(op, retry)
	}
	phc := a.dummyPHC
	if known {
		phc = cred.PasswordHash
	}
	if err := a.acquireHash(ctx); err != nil {
		return err
	}
	ok, _, verr := VerifyPassword(password, phc)
	a.releaseHash()
	if verr != nil {
		return domain.Wrap(domain.KindInternal, op, verr, "stored password hash is unreadable")
	}
	if !known || !ok {
		if err := a.recordFailure(ctx, keys, now, since); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "passwords cannot be checked right now")
		}
		return wrong()
	}
	return nil
}

// RemoveLocalAccount deletes userID's local credential and ends the user's sessions, e.g. on
// deactivation or erasure.
func (a *Authenticator) RemoveLocalAccount(ctx context.Context, userID string) error {
	const op = "auth.RemoveLocalAccount"
	if err := a.cfg.Credentials.DeleteCredential(ctx, userID); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "local accounts cannot be removed right now")
	}
	if _, err := a.cfg.Sessions.RevokeUserSessions(ctx, userID, a.clock.Now()); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be revoked right now")
	}
	return nil
}
