package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteSpace deletes a space (Space Admins).
type DeleteSpace struct {
	Meta
	SpaceID string
}

// deleteSpace runs DeleteSpace.
func (x *executor) deleteSpace(ctx context.Context, c DeleteSpace) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeleteSpace,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Space).Delete()
		},
	})
}
