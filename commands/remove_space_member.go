package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RemoveSpaceMember removes a member from a space (Space Admins).
type RemoveSpaceMember struct {
	Meta
	SpaceID string
	UserID  string
}

// removeSpaceMember runs RemoveSpaceMember.
func (x *executor) removeSpaceMember(ctx context.Context, c RemoveSpaceMember) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRemoveSpaceMember,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Space).RemoveMember(c.UserID)
		},
	})
}
