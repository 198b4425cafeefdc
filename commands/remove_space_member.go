package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RemoveSpaceMember removes a member from a space (Space Admins, and the organisation's
// Admins in any space of it; only they may remove an organisation Admin).
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
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			f, err := x.membershipFacts(ctx, act, c.UserID)
			if err != nil {
				return err
			}
			return t.(*domain.Space).RemoveMember(c.UserID, f)
		},
		denyReason: domain.ReasonOversight,
	})
}

// membershipFacts looks up what a change of user's access to a space depends on beyond the
// space: whether the actor and user are Admins of the organisation (an active user of it).
func (x *executor) membershipFacts(ctx context.Context, act actor, user string) (domain.MembershipFacts, error) {
	f := domain.MembershipFacts{ActorOrgAdmin: act.role == domain.OrgRoleAdmin}
	if domain.ValidateID("user id", user) != nil {
		return f, nil // the space refuses the unknown member
	}
	u := domain.NewUser(user)
	if _, err := x.load(ctx, u); err != nil {
		return f, err
	}
	f.MemberOrgAdmin = u.OrganizationID() == act.org && u.Active() && u.Role() == domain.OrgRoleAdmin
	return f, nil
}
