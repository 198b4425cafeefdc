package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChangeSpaceMemberRole changes a member's role in a space (Space Admins, and the
// organisation's Admins in any space of it; only they may change an organisation Admin's).
type ChangeSpaceMemberRole struct {
	Meta
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
}

// changeSpaceMemberRole runs ChangeSpaceMemberRole.
func (x *executor) changeSpaceMemberRole(ctx context.Context, c ChangeSpaceMemberRole) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeSpaceMemberRole,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			f, err := x.membershipFacts(ctx, act, c.UserID)
			if err != nil {
				return err
			}
			return t.(*domain.Space).ChangeMemberRole(c.UserID, c.Role, f)
		},
		denyReason: domain.ReasonOversight,
	})
}
