package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RevokeAPIKey stops a key from authenticating (Admins).
type RevokeAPIKey struct {
	Meta
	KeyID string
}

// revokeAPIKey runs RevokeAPIKey.
func (x *executor) revokeAPIKey(ctx context.Context, c RevokeAPIKey) (Result, error) {
	if err := domain.ValidateID("API key id", c.KeyID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRevokeAPIKey,
		target: func(act actor) domain.Aggregate { return domain.NewAPIKey(c.KeyID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.APIKey).Revoke(c.ActorID)
		},
	})
}
