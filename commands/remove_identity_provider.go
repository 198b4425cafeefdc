package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RemoveIdentityProvider makes the actor's organisation stop accepting the OIDC access tokens
// of an identity provider for an audience (Admins).
type RemoveIdentityProvider struct {
	Meta
	Issuer   string
	Audience string
}

// RemoveIdentityProviderHandler handles RemoveIdentityProvider.
type RemoveIdentityProviderHandler struct{ x *executor }

// NewRemoveIdentityProviderHandler returns the handler; it refuses nil dependencies.
func NewRemoveIdentityProviderHandler(d Deps) (*RemoveIdentityProviderHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &RemoveIdentityProviderHandler{x}, nil
}

// Handle runs the command. The result's ID is the organisation's.
func (h *RemoveIdentityProviderHandler) Handle(ctx context.Context, c RemoveIdentityProvider) (Result, error) {
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRemoveIdentityProvider,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(_ context.Context, _ actor, t domain.Aggregate) error {
			return t.(*domain.Organization).RemoveIdentityProvider(c.Issuer, c.Audience)
		},
	})
}
