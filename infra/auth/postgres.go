package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what Postgres needs of a connection: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx (so a
// projection can write API keys and settings in its own transaction).
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Postgres implements APIKeyStore, OrgSettings, SessionStore, CredentialStore and AttemptStore
// over the tables of the auth migration (api_keys, auth_org_settings, auth_oidc_providers,
// auth_sessions, auth_local_credentials, auth_login_attempts).
type Postgres struct {
	db DB
}

// NewPostgres returns the stores over db.
func NewPostgres(db DB) *Postgres { return &Postgres{db: db} }

func pgErr(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Wrap(domain.KindNotFound, op, err, "not found")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return domain.Wrap(domain.KindConflict, op, err, "already exists")
	}
	return domain.Wrap(domain.KindUnavailable, op, err, "Postgres query failed")
}

// LookupAPIKey implements APIKeyStore. A user's key comes with its owner's state
// (OwnerActive) when the users read model, which shares the database, has the user: the
// request's credential check is then one round trip. A user it does not have (yet) is left
// to the UserDirectory.
func (p *Postgres) LookupAPIKey(ctx context.Context, hash [32]byte) (APIKeyRecord, error) {
	var r APIKeyRecord
	var h []byte
	var state string
	err := p.db.QueryRow(ctx, `SELECT k.key_id, k.organization_id, k.owner_kind, k.owner_id, k.hash, k.state,
			u.active AND NOT u.erased
		FROM api_keys k
		LEFT JOIN users u ON k.owner_kind = $2 AND u.user_id = k.owner_id AND u.organization_id = k.organization_id
		WHERE k.hash = $1`, hash[:], domain.KeyOwnerUser).
		Scan(&r.KeyID, &r.OrganizationID, &r.OwnerKind, &r.OwnerID, &h, &state, &r.OwnerActive)
	if err != nil {
		return APIKeyRecord{}, pgErr("auth.Postgres.LookupAPIKey", err)
	}
	copy(r.Hash[:], h)
	r.Revoked = state != APIKeyActive
	return r, nil
}

// The states of a row in api_keys.
const (
	APIKeyActive  = "active"
	APIKeyRevoked = "revoked"
)

// PutAPIKey inserts or replaces a key in the api_keys read model (state active unless
// rec.Revoked). prefix is the key's public prefix (domain.APIKeyPrefix).
func (p *Postgres) PutAPIKey(ctx context.Context, rec APIKeyRecord, prefix string, createdAt time.Time) error {
	state := APIKeyActive
	if rec.Revoked {
		state = APIKeyRevoked
	}
	_, err := p.db.Exec(ctx, `INSERT INTO api_keys (key_id, hash, prefix, organization_id, owner_kind, owner_id, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (key_id) DO UPDATE SET hash = EXCLUDED.hash, prefix = EXCLUDED.prefix,
			organization_id = EXCLUDED.organization_id, owner_kind = EXCLUDED.owner_kind,
			owner_id = EXCLUDED.owner_id, state = EXCLUDED.state`,
		rec.KeyID, rec.Hash[:], prefix, rec.OrganizationID, rec.OwnerKind, rec.OwnerID, state, createdAt)
	if err != nil {
		return pgErr("auth.Postgres.PutAPIKey", err)
	}
	return nil
}

// RevokeAPIKey marks a key revoked in the api_keys read model; an unknown key is
// domain.KindNotFound.
func (p *Postgres) RevokeAPIKey(ctx context.Context, keyID string, at time.Time) error {
	tag, err := p.db.Exec(ctx, `UPDATE api_keys SET state = 'revoked', revoked_at = coalesce(revoked_at, $2) WHERE key_id = $1`, keyID, at)
	if err != nil {
		return pgErr("auth.Postgres.RevokeAPIKey", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.E(domain.KindNotFound, "auth.Postgres.RevokeAPIKey", "API key not found")
	}
	return nil
}

// SetAuthSettings validates and stores an organisation's authentication settings, replacing
// its OIDC providers, in one transaction. An (issuer, audience) pair configured by another
// organisation is a domain.KindConflict. Arkiv's platform does not call it: there projection
// readmodel.auth fills these tables from the log (organisation settings and identity
// provider events); it serves infra/auth's own tests and tools that run authentication
// without the log.
func (p *Postgres) SetAuthSettings(ctx context.Context, orgID string, s AuthSettings) error {
	const op = "auth.Postgres.SetAuthSettings"
	if orgID == "" {
		return domain.E(domain.KindInvalid, op, "organisation id is required")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	policy, err := json.Marshal(s.Password)
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "encode password policy")
	}
	err = pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO auth_org_settings
			(organization_id, session_idle_timeout_seconds, password_policy, mfa_required, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (organization_id) DO UPDATE SET
				session_idle_timeout_seconds = EXCLUDED.session_idle_timeout_seconds,
				password_policy = EXCLUDED.password_policy, mfa_required = EXCLUDED.mfa_required,
				updated_at = EXCLUDED.updated_at`,
			orgID, int64(s.SessionIdleTimeout/time.Second), policy, s.MFARequired); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_oidc_providers WHERE organization_id = $1`, orgID); err != nil {
			return err
		}
		for _, pr := range s.OIDC {
			if _, err := tx.Exec(ctx, `INSERT INTO auth_oidc_providers
				(organization_id, issuer, audience, allowed_amr, accepted_acr) VALUES ($1, $2, $3, $4, $5)`,
				orgID, pr.Issuer, pr.Audience, nonNil(pr.AllowedAMR), nonNil(pr.AcceptedACR)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if domain.KindOf(pgErr(op, err)) == domain.KindConflict {
			return domain.Wrap(domain.KindConflict, op, err, "an OIDC issuer and audience are already configured by another organisation")
		}
		return pgErr(op, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AuthSettings implements OrgSettings.
func (p *Postgres) AuthSettings(ctx context.Context, orgID string) (AuthSettings, error) {
	const op = "auth.Postgres.AuthSettings"
	var s AuthSettings
	var idle int64
	var policy []byte
	err := p.db.QueryRow(ctx, `SELECT session_idle_timeout_seconds, password_policy, mfa_required
		FROM auth_org_settings WHERE organization_id = $1`, orgID).Scan(&idle, &policy, &s.MFARequired)
	if err != nil {
		return AuthSettings{}, pgErr(op, err)
	}
	s.SessionIdleTimeout = time.Duration(idle) * time.Second
	if err := json.Unmarshal(policy, &s.Password); err != nil {
		return AuthSettings{}, domain.Wrap(domain.KindInternal, op, err, "stored password policy is unreadable")
	}
	rows, err := p.db.Query(ctx, `SELECT issuer, audience, allowed_amr, accepted_acr FROM auth_oidc_providers
		WHERE organization_id = $1 ORDER BY issuer, audience`, orgID)
	if err != nil {
		return AuthSettings{}, pgErr(op, err)
	}
	s.OIDC, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OIDCProvider, error) {
		var pr OIDCProvider
		err := r.Scan(&pr.Issuer, &pr.Audience, &pr.AllowedAMR, &pr.AcceptedACR)
		return pr, err
	})
	if err != nil {
		return AuthSettings{}, pgErr(op, err)
	}
	return s, nil
}

// OIDCProvidersByIssuer implements OrgSettings.
func (p *Postgres) OIDCProvidersByIssuer(ctx context.Context, issuer string) ([]OIDCBinding, error) {
	const op = "auth.Postgres.OIDCProvidersByIssuer"
	rows, err := p.db.Query(ctx, `SELECT p.organization_id, s.mfa_required, p.issuer, p.audience, p.allowed_amr, p.accepted_acr
		FROM auth_oidc_providers p JOIN auth_org_settings s USING (organization_id)
		WHERE p.issuer = $1 ORDER BY p.organization_id, p.audience`, issuer)
	if err != nil {
		return nil, pgErr(op, err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OIDCBinding, error) {
		var b OIDCBinding
		err := r.Scan(&b.OrganizationID, &b.MFARequired, &b.Provider.Issuer, &b.Provider.Audience,
			&b.Provider.AllowedAMR, &b.Provider.AcceptedACR)
		return b, err
	})
	if err != nil {
		return nil, pgErr(op, err)
	}
	return bs, nil
}

// CreateSession implements SessionStore.
func (p *Postgres) CreateSession(ctx context.Context, s Session) error {
	_, err := p.db.Exec(ctx, `INSERT INTO auth_sessions
		(token_hash, user_id, organization_id, created_at, last_seen_at, idle_timeout_seconds, password_change_required,
		 mfa, end_session_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		s.TokenHash[:], s.UserID, s.OrganizationID, s.CreatedAt, s.LastSeenAt, int64(s.IdleTimeout/time.Second), s.PasswordChangeRequired,
		s.MFA, s.EndSessionURL)
	if err != nil {
		return pgErr("auth.Postgres.CreateSession", err)
	}
	return nil
}

// LookupSession implements SessionStore.
func (p *Postgres) LookupSession(ctx context.Context, tokenHash [32]byte) (Session, error) {
	s := Session{TokenHash: tokenHash}
	var idle int64
	var revoked *time.Time
	err := p.db.QueryRow(ctx, `SELECT user_id, organization_id, created_at, last_seen_at, idle_timeout_seconds, revoked_at,
			password_change_required, mfa, end_session_url
		FROM auth_sessions WHERE token_hash = $1`, tokenHash[:]).
		Scan(&s.UserID, &s.OrganizationID, &s.CreatedAt, &s.LastSeenAt, &idle, &revoked, &s.PasswordChangeRequired, &s.MFA, &s.EndSessionURL)
	if err != nil {
		return Session{}, pgErr("auth.Postgres.LookupSession", err)
	}
	s.IdleTimeout = time.Duration(idle) * time.Second
	s.Revoked = revoked != nil
	return s, nil
}

// TouchSession implements SessionStore.
func (p *Postgres) TouchSession(ctx context.Context, tokenHash [32]byte, at time.Time) error {
	_, err := p.db.Exec(ctx, `UPDATE auth_sessions SET last_seen_at = $2
		WHERE token_hash = $1 AND last_seen_at < $2 AND revoked_at IS NULL`, tokenHash[:], at)
	if err != nil {
		return pgErr("auth.Postgres.TouchSession", err)
	}
	return nil
}

// RevokeSession implements SessionStore.
func (p *Postgres) RevokeSession(ctx context.Context, tokenHash [32]byte, at time.Time) error {
	_, err := p.db.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash[:], at)
	if err != nil {
		return pgErr("auth.Postgres.RevokeSession", err)
	}
	return nil
}

// RevokeUserSessions implements SessionStore.
func (p *Postgres) RevokeUserSessions(ctx context.Context, userID string, at time.Time) (int, error) {
	tag, err := p.db.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, at)
	if err != nil {
		return 0, pgErr("auth.Postgres.RevokeUserSessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteDeadSessions deletes sessions idle past their timeout at now, and revoked ones, and
// returns how many went. Run it periodically; the authenticator refuses such sessions anyway.
func (p *Postgres) DeleteDeadSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := p.db.Exec(ctx, `DELETE FROM auth_sessions WHERE revoked_at IS NOT NULL
		OR last_seen_at + make_interval(secs => idle_timeout_seconds) < $1`, now)
	if err != nil {
		return 0, pgErr("auth.Postgres.DeleteDeadSessions", err)
	}
	return tag.RowsAffected(), nil
}

// LookupCredential implements CredentialStore.
func (p *Postgres) LookupCredential(ctx context.Context, orgID string, login [32]byte) (Credential, error) {
	c := Credential{OrganizationID: orgID, Login: login}
	err := p.db.QueryRow(ctx, `SELECT user_id, password_hash, updated_at, must_change FROM auth_local_credentials
		WHERE organization_id = $1 AND login = $2`, orgID, login[:]).Scan(&c.UserID, &c.PasswordHash, &c.UpdatedAt, &c.MustChange)
	if err != nil {
		return Credential{}, pgErr("auth.Postgres.LookupCredential", err)
	}
	return c, nil
}

// UserCredential implements CredentialStore.
func (p *Postgres) UserCredential(ctx context.Context, orgID, userID string) (Credential, error) {
	c := Credential{OrganizationID: orgID, UserID: userID}
	var login []byte
	err := p.db.QueryRow(ctx, `SELECT login, password_hash, updated_at, must_change FROM auth_local_credentials
		WHERE organization_id = $1 AND user_id = $2`, orgID, userID).Scan(&login, &c.PasswordHash, &c.UpdatedAt, &c.MustChange)
	if err != nil {
		return Credential{}, pgErr("auth.Postgres.UserCredential", err)
	}
	copy(c.Login[:], login)
	return c, nil
}

// PutCredential implements CredentialStore.
func (p *Postgres) PutCredential(ctx context.Context, c Credential) error {
	const op = "auth.Postgres.PutCredential"
	var taken bool
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_local_credentials WHERE user_id = $1
			AND (organization_id <> $2 OR login <> $3)`, c.UserID, c.OrganizationID, c.Login[:]); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO auth_local_credentials (organization_id, login, user_id, password_hash, updated_at, must_change)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (organization_id, login) DO UPDATE SET password_hash = EXCLUDED.password_hash,
				updated_at = EXCLUDED.updated_at, must_change = EXCLUDED.must_change
			WHERE auth_local_credentials.user_id = EXCLUDED.user_id`,
			c.OrganizationID, c.Login[:], c.UserID, c.PasswordHash, c.UpdatedAt, c.MustChange)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			taken = true
			return errors.New("login held by another user")
		}
		if c.Rehash {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO auth_password_history (user_id, password_hash, set_at) VALUES ($1, $2, $3)`,
			c.UserID, c.PasswordHash, c.UpdatedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM auth_password_history WHERE user_id = $1 AND id NOT IN
			(SELECT id FROM auth_password_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2)`, c.UserID, MaxPasswordHistory)
		return err
	})
	if taken {
		return domain.Wrap(domain.KindConflict, op, err, "this login belongs to another user")
	}
	if err != nil {
		return pgErr(op, err)
	}
	return nil
}

// PasswordHistory implements CredentialStore.
func (p *Postgres) PasswordHistory(ctx context.Context, userID string, n int) ([]string, error) {
	rows, err := p.db.Query(ctx, `SELECT password_hash FROM auth_password_history WHERE user_id = $1
		ORDER BY id DESC LIMIT $2`, userID, n)
	if err != nil {
		return nil, pgErr("auth.Postgres.PasswordHistory", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, pgErr("auth.Postgres.PasswordHistory", err)
	}
	return out, nil
}

// DeleteCredential implements CredentialStore.
func (p *Postgres) DeleteCredential(ctx context.Context, userID string) error {
	if _, err := p.db.Exec(ctx, `DELETE FROM auth_local_credentials WHERE user_id = $1`, userID); err != nil {
		return pgErr("auth.Postgres.DeleteCredential", err)
	}
	if _, err := p.db.Exec(ctx, `DELETE FROM auth_password_history WHERE user_id = $1`, userID); err != nil {
		return pgErr("auth.Postgres.DeleteCredential", err)
	}
	return nil
}

// RecordFailure implements AttemptStore.
func (p *Postgres) RecordFailure(ctx context.Context, key [32]byte, at, prune time.Time) error {
	const op = "auth.Postgres.RecordFailure"
	_, err := p.db.Exec(ctx, `WITH pruned AS (DELETE FROM auth_login_attempts WHERE digest = $1 AND attempted_at < $3)
		INSERT INTO auth_login_attempts (digest, attempted_at) VALUES ($1, $2)`, key[:], at, prune)
	if err != nil {
		return pgErr(op, err)
	}
	return nil
}

// Failures implements AttemptStore.
func (p *Postgres) Failures(ctx context.Context, key [32]byte, since time.Time) (int, time.Time, time.Time, error) {
	var n int
	var oldest, latest *time.Time
	err := p.db.QueryRow(ctx, `SELECT count(*), min(attempted_at), max(attempted_at) FROM auth_login_attempts
		WHERE digest = $1 AND attempted_at > $2`, key[:], since).Scan(&n, &oldest, &latest)
	if err != nil {
		return 0, time.Time{}, time.Time{}, pgErr("auth.Postgres.Failures", err)
	}
	if oldest == nil || latest == nil {
		return n, time.Time{}, time.Time{}, nil
	}
	return n, *oldest, *latest, nil
}

// ClearFailures implements AttemptStore.
func (p *Postgres) ClearFailures(ctx context.Context, key [32]byte) error {
	if _, err := p.db.Exec(ctx, `DELETE FROM auth_login_attempts WHERE digest = $1`, key[:]); err != nil {
		return pgErr("auth.Postgres.ClearFailures", err)
	}
	return nil
}

// DeleteOldAttempts deletes failed-login records older than before (e.g. now minus the failure
// window) and returns how many went. Run it periodically.
func (p *Postgres) DeleteOldAttempts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := p.db.Exec(ctx, `DELETE FROM auth_login_attempts WHERE attempted_at < $1`, before)
	if err != nil {
		return 0, pgErr("auth.Postgres.DeleteOldAttempts", err)
	}
	return tag.RowsAffected(), nil
}

var (
	_ APIKeyStore     = (*Postgres)(nil)
	_ OrgSettings     = (*Postgres)(nil)
	_ SessionStore    = (*Postgres)(nil)
	_ CredentialStore = (*Postgres)(nil)
	_ AttemptStore    = (*Postgres)(nil)
)

// PutOIDCLogin implements OIDCLoginStore.
func (p *Postgres) PutOIDCLogin(ctx context.Context, l OIDCLogin) error {
	_, err := p.db.Exec(ctx, `INSERT INTO auth_oidc_logins
		(state_hash, browser_hash, organization_id, issuer, audience, nonce, verifier, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		l.StateHash[:], l.BrowserHash[:], l.OrganizationID, l.Issuer, l.Audience, l.Nonce, l.Verifier, l.CreatedAt)
	if err != nil {
		return pgErr("auth.Postgres.PutOIDCLogin", err)
	}
	return nil
}

// TakeOIDCLogin implements OIDCLoginStore.
func (p *Postgres) TakeOIDCLogin(ctx context.Context, stateHash [32]byte, at time.Time) (OIDCLogin, bool, error) {
	const op = "auth.Postgres.TakeOIDCLogin"
	l := OIDCLogin{StateHash: stateHash}
	var browser []byte
	var used *time.Time
	err := p.db.QueryRow(ctx, `WITH taken AS (
			UPDATE auth_oidc_logins SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL
			RETURNING browser_hash, organization_id, issuer, audience, nonce, verifier, created_at, NULL::timestamptz AS used_at)
		SELECT * FROM taken
		UNION ALL
		SELECT browser_hash, organization_id, issuer, audience, nonce, verifier, created_at, used_at
			FROM auth_oidc_logins WHERE state_hash = $1 AND used_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM taken)`,
		stateHash[:], at).Scan(&browser, &l.OrganizationID, &l.Issuer, &l.Audience, &l.Nonce, &l.Verifier, &l.CreatedAt, &used)
	if err != nil {
		return OIDCLogin{}, false, pgErr(op, err)
	}
	copy(l.BrowserHash[:], browser)
	return l, used != nil, nil
}

// DeleteOldOIDCLogins deletes the sign-in flows begun before before.
func (p *Postgres) DeleteOldOIDCLogins(ctx context.Context, before time.Time) (int64, error) {
	tag, err := p.db.Exec(ctx, `DELETE FROM auth_oidc_logins WHERE created_at < $1`, before)
	if err != nil {
		return 0, pgErr("auth.Postgres.DeleteOldOIDCLogins", err)
	}
	return tag.RowsAffected(), nil
}

// OIDCPairs returns every (issuer, audience) pair of the routing table with the
// organisation it routes to (the first to configure it).
func (p *Postgres) OIDCPairs(ctx context.Context) ([]OIDCBinding, error) {
	const op = "auth.Postgres.OIDCPairs"
	rows, err := p.db.Query(ctx, `SELECT organization_id, issuer, audience FROM auth_oidc_providers ORDER BY organization_id, issuer, audience`)
	if err != nil {
		return nil, pgErr(op, err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OIDCBinding, error) {
		var b OIDCBinding
		err := r.Scan(&b.OrganizationID, &b.Provider.Issuer, &b.Provider.Audience)
		return b, err
	})
	if err != nil {
		return nil, pgErr(op, err)
	}
	return bs, nil
}
