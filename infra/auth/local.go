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
	if idle >= a.cfg.TouchInterval {
		if err := a.cfg.Sessions.TouchSession(ctx, h, now); err != nil {
			return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "sessions cannot be checked right now")
		}
	}
	return Principal{UserID: s.UserID, OrganizationID: s.OrganizationID, Method: MethodSession}, nil
}

// Login checks a local account's password and opens a session. It returns the session token
// ("as_…", shown to the client once and stored only as its SHA-256) and the organisation's
// idle timeout, after which an unused session expires.
//
// Refusals: an unknown login and a wrong password give the same domain.KindUnauthenticated
// error and take the same time; after LoginFailureLimit failures of one login (or
// IPFailureLimit from one remote address) within FailureWindow, attempts are refused with a
// domain.KindForbidden error carrying a RateLimitedError (see RetryAfter) without checking the
// password; an organisation that requires MFA refuses password logins. Every refusal and every
// success is reported to the LoginAuditor. A password hashed with weaker parameters than
// Config.Argon2 is re-hashed.
func (a *Authenticator) Login(ctx context.Context, orgID, login, password, remoteIP string) (string, time.Duration, error) {
	const op = "auth.Login"
	invalid := func() error { return domain.E(domain.KindUnauthenticated, op, "invalid login or password") }
	if orgID == "" || normaliseLogin(login) == "" || password == "" {
		return "", 0, domain.E(domain.KindInvalid, op, "organisation, login and password are required")
	}
	loginKey := a.loginDigest(orgID, login)
	digest := hexString(loginKey[:])
	ipKey := a.digest("ip", remoteIP)
	fail := func(reason string, err error) (string, time.Duration, error) {
		a.cfg.Auditor.LoginFailed(ctx, orgID, digest, reason, remoteIP)
		a.log.InfoContext(ctx, "login refused", "organization_id", orgID, "reason", reason)
		return "", 0, err
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
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
	}

	now := a.clock.Now()
	since := now.Add(-a.cfg.FailureWindow)
	if retry, locked, err := a.lockedOut(ctx, loginKey, ipKey, since, now); err != nil {
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
	} else if locked {
		return fail(FailureLockedOut, errRateLimited(op, retry))
	}

	cred, err := a.cfg.Credentials.LookupCredential(ctx, orgID, loginKey)
	known := err == nil
	if err != nil && !domain.Is(domain.KindNotFound, err) {
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
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
	if !known || !ok {
		if err := a.cfg.Attempts.RecordFailure(ctx, loginKey, now, since); err != nil {
			return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
		}
		if err := a.cfg.Attempts.RecordFailure(ctx, ipKey, now, since); err != nil {
			return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
		}
		if !known {
			return fail(FailureUnknownLogin, invalid())
		}
		return fail(FailureBadPassword, invalid())
	}
	// The password is right; an organisation that demands a second factor still refuses it,
	// since local accounts have none. The failure is not counted against the login.
	if settings.MFARequired {
		return fail(FailureMFARequired, domain.E(domain.KindUnauthenticated, op,
			"multi-factor authentication required: sign in through the organisation's identity provider"))
	}

	if params.weakerThan(a.cfg.Argon2) {
		a.upgradeHash(ctx, cred, password, now)
	}
	if err := a.cfg.Attempts.ClearFailures(ctx, loginKey); err != nil {
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
	}
	idle := settings.SessionIdleTimeout
	if idle <= 0 {
		idle = DefaultSessionIdleTimeout
	}
	token := randomToken(SessionPrefix)
	s := Session{TokenHash: sha256.Sum256([]byte(token)), UserID: cred.UserID, OrganizationID: orgID,
		CreatedAt: now, LastSeenAt: now, IdleTimeout: idle}
	if err := a.cfg.Sessions.CreateSession(ctx, s); err != nil {
		return "", 0, domain.Wrap(domain.KindUnavailable, op, err, "login is not possible right now")
	}
	a.cfg.Auditor.LoginSucceeded(ctx, orgID, cred.UserID, digest, remoteIP)
	return token, idle, nil
}

// DefaultSessionIdleTimeout applies when an organisation's settings name no idle timeout.
const DefaultSessionIdleTimeout = 30 * time.Minute

// lockedOut reports whether the login or the remote address has reached its failure limit
// and, if so, how long until the oldest counted failure leaves the window.
func (a *Authenticator) lockedOut(ctx context.Context, loginKey, ipKey [32]byte, since, now time.Time) (time.Duration, bool, error) {
	check := func(key [32]byte, limit int) (time.Duration, bool, error) {
		n, oldest, err := a.cfg.Attempts.Failures(ctx, key, since)
		if err != nil || n < limit {
			return 0, false, err
		}
		return oldest.Add(a.cfg.FailureWindow).Sub(now), true, nil
	}
	if d, locked, err := check(loginKey, a.cfg.LoginFailureLimit); err != nil || locked {
		return d, locked, err
	}
	return check(ipKey, a.cfg.IPFailureLimit)
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
		cred.PasswordHash, cred.UpdatedAt = phc, now
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
	const op = "auth.SetPassword"
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
	if err := a.acquireHash(ctx); err != nil {
		return err
	}
	phc, err := HashPassword(password, a.cfg.Argon2)
	a.releaseHash()
	if err != nil {
		return err
	}
	now := a.clock.Now()
	c := Credential{OrganizationID: orgID, Login: a.loginDigest(orgID, login), UserID: userID, PasswordHash: phc, UpdatedAt: now}
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
