package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// Tables writes the rows of the authentication tables whose encoding this package owns,
// inside the transaction of the projection that fills them from the log; it implements
// projections.AuthTables. The zero value is ready to use.
type Tables struct{}

// SettingsRow validates an organisation's settings and returns what auth_org_settings keeps
// of them: the session idle timeout, the password policy as stored, and whether MFA is
// required.
func (Tables) SettingsRow(s domain.OrganizationSettings) (idleTimeout time.Duration, passwordPolicy []byte, mfaRequired bool, err error) {
	a := SettingsFromDomain(s, nil)
	if err := a.Validate(); err != nil {
		return 0, nil, false, err
	}
	policy, err := json.Marshal(a.Password)
	if err != nil {
		return 0, nil, false, domain.Wrap(domain.KindInternal, "auth.Tables.SettingsRow", err, "encode password policy")
	}
	return a.SessionIdleTimeout, policy, a.MFARequired, nil
}

// PutAPIKey stores the active API key that key created, at createdAt, through tx. A hash that
// is not a hex SHA-256 is domain.KindInternal.
func (Tables) PutAPIKey(ctx context.Context, tx pgx.Tx, key domain.APIKeyCreated, createdAt time.Time) error {
	rec := APIKeyRecord{KeyID: key.KeyID, OrganizationID: key.OrganizationID, OwnerKind: key.OwnerKind, OwnerID: key.OwnerID}
	h, err := hex.DecodeString(key.Hash)
	if err != nil || len(h) != len(rec.Hash) {
		return domain.E(domain.KindInternal, "auth.Tables.PutAPIKey", "API key hash is not a hex SHA-256")
	}
	copy(rec.Hash[:], h)
	return NewPostgres(tx).PutAPIKey(ctx, rec, key.Prefix, createdAt)
}

// RevokeAPIKey marks a key revoked at at through tx; an unknown key is domain.KindNotFound.
func (Tables) RevokeAPIKey(ctx context.Context, tx pgx.Tx, keyID string, at time.Time) error {
	return NewPostgres(tx).RevokeAPIKey(ctx, keyID, at)
}

// EndUserAccess deletes userID's local account and revokes the sessions it opened, as of at
// (the user's deactivation or erasure). A password set or a session opened after at (once an
// erasure was restored) is kept, so replaying the log takes nothing it should not.
func (Tables) EndUserAccess(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM auth_local_credentials WHERE user_id = $1 AND updated_at <= $2`, userID, at); err != nil {
		return pgErr("auth.Tables.EndUserAccess", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $2
		WHERE user_id = $1 AND revoked_at IS NULL AND created_at <= $2`, userID, at); err != nil {
		return pgErr("auth.Tables.EndUserAccess", err)
	}
	return nil
}
