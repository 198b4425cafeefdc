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

// restoreErasure runs RestoreErasure.
func (x *executor) restoreErasure(ctx context.Context, c RestoreErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRestoreErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Restore(act.id, x.d.Clock.Now())
		},
	})
}
