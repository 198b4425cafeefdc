package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// CompleteErasure makes a pending erasure final once its grace window has passed (Admins,
// or the erasure process manager acting for the requesting Admin); the keyring then
// destroys the subject's key material.
type CompleteErasure struct {
	Meta
	ErasureID string
}

// completeErasure runs CompleteErasure.
func (x *executor) completeErasure(ctx context.Context, c CompleteErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCompleteErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Complete(act.id, x.d.Clock.Now())
		},
	})
}
