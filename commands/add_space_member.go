package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// AddSpaceMember adds a user of the organisation to a space (Space Admins, and the
// organisation's Admins in any space of it, themselves included).
type AddSpaceMember struct {
	Meta
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
}

// addSpaceMember runs AddSpaceMember.
func (x *executor) addSpaceMember(ctx context.Context, c AddSpaceMember) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdAddSpaceMember,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if err := domain.ValidateID("user id", c.UserID); err != nil {
				return err
			}
			u := domain.NewUser(c.UserID)
			if err := x.loadSameOrg(ctx, act, u, "user"); err != nil {
				return err
			}
			if !u.Active() {
				return domain.E(domain.KindNotFound, "space.add_member", "user not found")
			}
			return t.(*domain.Space).AddMember(c.UserID, c.Role)
		},
	})
}
