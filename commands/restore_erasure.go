package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RestoreErasure undoes a pending erasure within its grace window (Admins).
type RestoreErasure struct {
	Meta
	ErasureID string
}

// RestoreErasureHandler handles RestoreErasure.
type RestoreErasureHandler struct{ x *executor }

// NewRestoreErasureHandler returns the handler; it refuses nil dependencies.
func NewRestoreErasureHandler(d Deps) (*RestoreErasureHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &RestoreErasureHandler{x}, nil
}

// Handle runs the command.
func (h *RestoreErasureHandler) Handle(ctx context.Context, c RestoreErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRestoreErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Restore(act.id, h.x.d.Clock.Now())
		},
	})
}
