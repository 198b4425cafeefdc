package commands

import (
	"context"
	"strings"

	"github.com/arkiv/arkiv/domain"
)

// RemoveIdentityProvider makes the actor's organisation stop accepting the OIDC access tokens
// of an identity provider for an audience (Admins).
type RemoveIdentityProvider struct {
	Meta
	Issuer   string
	Audience string
}

// removeIdentityProvider runs RemoveIdentityProvider. The result's ID is the organisation's.
func (x *executor) removeIdentityProvider(ctx context.Context, c RemoveIdentityProvider) (Result, error) {
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRemoveIdentityProvider,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			o := t.(*domain.Organization)
			signIn, _ := o.SignInOf(strings.TrimSpace(c.Issuer), strings.TrimSpace(c.Audience))
			if err := o.RemoveIdentityProvider(c.Issuer, c.Audience); err != nil {
				return err
			}
			return x.claimIdentityProvider(ctx, act, reservedIssuer(strings.TrimSpace(c.Issuer), signIn), c.Audience, false)
		},
	})
}
