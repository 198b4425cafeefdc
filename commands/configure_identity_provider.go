package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ConfigureIdentityProvider makes the actor's organisation accept the OIDC access tokens of
// an identity provider for an audience, or replaces the MFA claims of one it has (Admins).
// Empty AllowedAMR and AcceptedACR mean authentication's defaults. A pair (issuer,
// audience) another organisation has configured is refused (KindConflict).
type ConfigureIdentityProvider struct {
	Meta
	Issuer      string
	Audience    string
	AllowedAMR  []string
	AcceptedACR []string
}

// configureIdentityProvider runs ConfigureIdentityProvider. The result's ID is the organisation's.
func (x *executor) configureIdentityProvider(ctx context.Context, c ConfigureIdentityProvider) (Result, error) {
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdConfigureIdentityProvider,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			p, err := domain.NewIdentityProvider(c.Issuer, c.Audience, c.AllowedAMR, c.AcceptedACR)
			if err != nil {
				return err
			}
			// The pair is the organisation's only once its reservation stream says so: one
			// another organisation holds is refused, never re-routed.
			if err := x.claimIdentityProvider(ctx, act, p.Issuer, p.Audience, true); err != nil {
				return err
			}
			return t.(*domain.Organization).ConfigureIdentityProvider(p)
		},
	})
}

// claimIdentityProvider claims (claim true) or releases the reservation stream of (issuer,
// audience) for the actor's organisation, appending with the stream's revision as the
// expected one, so two organisations racing for a pair cannot both hold it.
func (x *executor) claimIdentityProvider(ctx context.Context, act actor, issuer, audience string, claim bool) error {
	c := domain.NewIdentityProviderClaim(issuer, audience)
	recs, err := x.load(ctx, c)
	if err != nil {
		return err
	}
	if claim {
		if err := c.Claim(act.org, issuer, audience); err != nil {
			return err
		}
	} else {
		c.Release(act.org, issuer, audience)
	}
	if len(c.Changes()) == 0 {
		return nil
	}
	_, err = x.append(ctx, act.meta, act.id, c, recs)
	return err
}
