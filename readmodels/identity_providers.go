package readmodels

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// IdentityProvider is an OIDC identity provider an organisation configured (projection
// readmodel.auth). Empty AllowedAMR and AcceptedACR mean authentication's defaults.
type IdentityProvider struct {
	Issuer      string
	Audience    string
	AllowedAMR  []string
	AcceptedACR []string
	// Active reports whether tokens of this issuer and audience authenticate users of the
	// organisation. It is false when another organisation configured the same pair first:
	// its tokens route there until that organisation removes the pair or is erased.
	Active bool
}

// IdentityProviders returns the organisation's identity providers in the order they were
// first configured.
func (r *Reader) IdentityProviders(ctx context.Context, orgID string) ([]IdentityProvider, error) {
	const op = "readmodels.IdentityProviders"
	rows, err := r.pool.Query(ctx, `SELECT c.issuer, c.audience, c.allowed_amr, c.accepted_acr,
			EXISTS (SELECT 1 FROM auth_oidc_providers p WHERE p.organization_id = c.organization_id
				AND p.issuer = c.issuer AND p.audience = c.audience)
		FROM auth_oidc_claims c WHERE c.organization_id = $1 ORDER BY c.position, c.issuer, c.audience`, orgID)
	if err != nil {
		return nil, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (IdentityProvider, error) {
		var p IdentityProvider
		err := row.Scan(&p.Issuer, &p.Audience, &p.AllowedAMR, &p.AcceptedACR, &p.Active)
		return p, err
	})
	return out, pgErr(op, err)
}
