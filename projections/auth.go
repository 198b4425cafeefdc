package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameAuth is the name of the projection that fills infra/auth's tables.
const NameAuth = "readmodel.auth"

// Auth fills the tables infra/auth authenticates against: api_keys from the API key events
// (a deactivated user's keys are revoked), auth_org_settings from the organisation's
// settings, and auth_oidc_providers from the identity provider events. A user's
// deactivation or erasure also ends their local account and sessions (auth_local_credentials
// and auth_sessions, which are not rebuilt: only what existed at the event's time goes).
//
// Identity providers: every organisation's configured providers are kept in
// auth_oidc_claims with the log position at which the organisation first configured the
// (issuer, audience) pair. The command side sees one organisation at a time, so two
// organisations may configure the same pair; auth_oidc_providers, which routes tokens,
// holds for each pair only the claim with the lowest position (then the lowest organisation
// id). The first organisation to configure a pair keeps receiving its tokens; the later
// claim is recorded but inactive (readmodels shows it as such) and takes over only when the
// first is removed or its organisation erased. The choice depends only on the log, so a
// rebuild and a restore after erasure reach the same routing, and a token never routes to
// two organisations.
type Auth struct {
	tables AuthTables
	er     erasures
}

// AuthTables writes the rows of infra/auth's tables whose encoding infra/auth owns, inside the
// Auth projection's transaction; auth.Tables implements it.
type AuthTables interface {
	// SettingsRow validates an organisation's settings and returns what auth_org_settings
	// keeps of them: the session idle timeout, the stored password policy and whether MFA is
	// required.
	SettingsRow(s domain.OrganizationSettings) (idleTimeout time.Duration, passwordPolicy []byte, mfaRequired bool, err error)
	// PutAPIKey stores the active API key that key created, at createdAt.
	PutAPIKey(ctx context.Context, tx pgx.Tx, key domain.APIKeyCreated, createdAt time.Time) error
	// RevokeAPIKey marks a key revoked at at; an unknown key is domain.KindNotFound.
	RevokeAPIKey(ctx context.Context, tx pgx.Tx, keyID string, at time.Time) error
	// EndUserAccess deletes a user's local account and revokes their sessions, as of at.
	EndUserAccess(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error
}

// NewAuth returns the projection; streams re-reads erased subjects' streams on restore, and
// tables writes the rows infra/auth encodes.
func NewAuth(streams StreamReader, tables AuthTables) *Auth {
	p := &Auth{tables: tables}
	p.er = erasures{table: "auth_erasures", streams: streams, erase: p.erase,
		apply: func(ctx context.Context, tx pgx.Tx, ev engine.Event, _ time.Time) error { return p.apply(ctx, tx, ev) }}
	return p
}

// Name implements engine.Projection.
func (*Auth) Name() string { return NameAuth }

// Tables implements engine.Projection.
func (*Auth) Tables() []string {
	return []string{"api_keys", "auth_org_settings", "auth_oidc_claims", "auth_oidc_providers", "auth_erasures"}
}

type (
	orgSettingsWire struct {
		OrganizationID string                      `json:"organizationId"`
		Settings       domain.OrganizationSettings `json:"settings"`
	}
	keyWire struct {
		KeyID          string    `json:"keyId"`
		OrganizationID string    `json:"organizationId"`
		OwnerKind      string    `json:"ownerKind"`
		OwnerID        string    `json:"ownerId"`
		Prefix         string    `json:"prefix"`
		Hash           string    `json:"hash"`
		UsedAt         time.Time `json:"usedAt"`
	}
	providerWire struct {
		OrganizationID string   `json:"organizationId"`
		Issuer         string   `json:"issuer"`
		Audience       string   `json:"audience"`
		AllowedAMR     []string `json:"allowedAmr"`
		AcceptedACR    []string `json:"acceptedAcr"`
	}
)

// Apply implements engine.Projection.
func (p *Auth) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	return p.er.Apply(ctx, tx, ev)
}

// erase removes an erased organisation's keys, settings and identity-provider claims and
// returns the streams they came from; the projection holds nothing of other subjects.
func (p *Auth) erase(ctx context.Context, tx pgx.Tx, r erasureRequested) ([]string, bool, error) {
	if domain.SubjectKind(r.SubjectType) == domain.SubjectUser {
		// The erased user's password and sessions end at once; authentication refuses their
		// API keys while the erasure stands (the users read model), and a restore brings the
		// keys back but not the password: an Admin sets a new one.
		return nil, false, p.tables.EndUserAccess(ctx, tx, r.SubjectID, r.RequestedAt)
	}
	if domain.SubjectKind(r.SubjectType) != domain.SubjectOrganization {
		return nil, false, nil
	}
	streams := []string{streamOrg + r.SubjectID}
	keys, err := queryStrings(ctx, tx, `SELECT key_id FROM api_keys WHERE organization_id = $1`, r.SubjectID)
	if err != nil {
		return nil, false, err
	}
	for _, k := range keys {
		streams = append(streams, streamAPIKey+k)
	}
	owners, err := queryStrings(ctx, tx, `SELECT DISTINCT owner_id FROM api_keys WHERE organization_id = $1 AND owner_kind = 'USER'`, r.SubjectID)
	if err != nil {
		return nil, false, err
	}
	for _, u := range owners {
		streams = append(streams, streamUser+u)
	}
	for _, sql := range []string{
		`DELETE FROM api_keys WHERE organization_id = $1`,
		`DELETE FROM auth_org_settings WHERE organization_id = $1`,
	} {
		if _, err := tx.Exec(ctx, sql, r.SubjectID); err != nil {
			return nil, false, err
		}
	}
	if err := dropClaims(ctx, tx, r.SubjectID); err != nil {
		return nil, false, err
	}
	return streams, true, nil
}

func (p *Auth) apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	at := metaOf(ev).OccurredAt
	switch ev.Type {
	case evOrgCreated, evOrgSettings:
		var e orgSettingsWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.OrganizationID); err != nil || hid {
			return err
		}
		idle, policy, mfa, err := p.tables.SettingsRow(e.Settings)
		if err != nil {
			return err
		}
		// Written here rather than with auth.Postgres.SetAuthSettings, which would also
		// replace the organisation's OIDC providers (which come from their own events) and
		// stamp now() instead of the event's time.
		_, err = tx.Exec(ctx, `INSERT INTO auth_org_settings
				(organization_id, session_idle_timeout_seconds, password_policy, mfa_required, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (organization_id) DO UPDATE SET
				session_idle_timeout_seconds = EXCLUDED.session_idle_timeout_seconds,
				password_policy = EXCLUDED.password_policy, mfa_required = EXCLUDED.mfa_required,
				updated_at = EXCLUDED.updated_at`,
			e.OrganizationID, int64(idle/time.Second), policy, mfa, at)
		return err
	case evKeyCreated:
		var e keyWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.OrganizationID); err != nil || hid {
			return err
		}
		return p.tables.PutAPIKey(ctx, tx, domain.APIKeyCreated{KeyID: e.KeyID, OrganizationID: e.OrganizationID,
			OwnerKind: e.OwnerKind, OwnerID: e.OwnerID, Prefix: e.Prefix, Hash: e.Hash}, at)
	case evKeyRevoked:
		var e keyWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		err := p.tables.RevokeAPIKey(ctx, tx, e.KeyID, at)
		if domain.Is(domain.KindNotFound, err) {
			return nil // a key of an erased organisation
		}
		return err
	case evKeyUsed:
		var e keyWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = greatest(last_used_at, $2) WHERE key_id = $1`, e.KeyID, e.UsedAt.UTC())
		return err
	case evUserDeactivated:
		var e userRef
		if err := decode(ev, &e); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET state = 'revoked', revoked_at = coalesce(revoked_at, $2)
			WHERE owner_kind = 'USER' AND owner_id = $1`, e.UserID, at); err != nil {
			return err
		}
		return p.tables.EndUserAccess(ctx, tx, e.UserID, at)
	case evProviderConfigured:
		var e providerWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.OrganizationID); err != nil || hid {
			return err
		}
		// A reconfiguration replaces the MFA claims and keeps the first position.
		if _, err := tx.Exec(ctx, `INSERT INTO auth_oidc_claims
				(organization_id, issuer, audience, allowed_amr, accepted_acr, position)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (organization_id, issuer, audience) DO UPDATE SET
				allowed_amr = EXCLUDED.allowed_amr, accepted_acr = EXCLUDED.accepted_acr`,
			e.OrganizationID, e.Issuer, e.Audience, nonNil(e.AllowedAMR), nonNil(e.AcceptedACR), pos(ev)); err != nil {
			return err
		}
		return route(ctx, tx, e.Issuer, e.Audience)
	case evProviderRemoved:
		var e providerWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_oidc_claims WHERE organization_id = $1 AND issuer = $2 AND audience = $3`,
			e.OrganizationID, e.Issuer, e.Audience); err != nil {
			return err
		}
		return route(ctx, tx, e.Issuer, e.Audience)
	}
	return nil
}

// route makes the earliest claim of (issuer, audience) — lowest position, then organisation
// id — the pair's only row in auth_oidc_providers, or removes the pair when nobody claims it.
func route(ctx context.Context, tx pgx.Tx, issuer, audience string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM auth_oidc_providers WHERE issuer = $1 AND audience = $2`, issuer, audience); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO auth_oidc_providers (organization_id, issuer, audience, allowed_amr, accepted_acr)
		SELECT organization_id, issuer, audience, allowed_amr, accepted_acr FROM auth_oidc_claims
		WHERE issuer = $1 AND audience = $2 ORDER BY position, organization_id LIMIT 1`, issuer, audience)
	return err
}

// dropClaims removes an erased organisation's claims and re-routes their pairs, which may
// pass to an organisation that claimed them later.
func dropClaims(ctx context.Context, tx pgx.Tx, orgID string) error {
	rows, err := tx.Query(ctx, `DELETE FROM auth_oidc_claims WHERE organization_id = $1 RETURNING issuer, audience`, orgID)
	if err != nil {
		return err
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var p [2]string
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := route(ctx, tx, p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
