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

// RevokeAPIKeyHandler handles RevokeAPIKey.
type RevokeAPIKeyHandler struct{ x *executor }

// NewRevokeAPIKeyHandler returns the handler; it refuses nil dependencies.
func NewRevokeAPIKeyHandler(d Deps) (*RevokeAPIKeyHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &RevokeAPIKeyHandler{x}, nil
}

// Handle runs the command.
func (h *RevokeAPIKeyHandler) Handle(ctx context.Context, c RevokeAPIKey) (Result, error) {
	if err := domain.ValidateID("API key id", c.KeyID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRevokeAPIKey,
		target: func(act actor) domain.Aggregate { return domain.NewAPIKey(c.KeyID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.APIKey).Revoke(c.ActorID)
		},
	})
}
