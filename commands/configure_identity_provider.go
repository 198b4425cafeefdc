package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ConfigureIdentityProvider makes the actor's organisation accept the OIDC access tokens of
// an identity provider for an audience, or replaces the MFA claims of one it has (Admins).
// Empty AllowedAMR and AcceptedACR mean authentication's defaults.
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
		decide: func(_ context.Context, _ actor, t domain.Aggregate) error {
			return t.(*domain.Organization).ConfigureIdentityProvider(domain.IdentityProvider{
				Issuer: c.Issuer, Audience: c.Audience, AllowedAMR: c.AllowedAMR, AcceptedACR: c.AcceptedACR})
		},
	})
}
