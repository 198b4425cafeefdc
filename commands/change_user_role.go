package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChangeUserRole changes a user's organisation role (Admins; not their own).
type ChangeUserRole struct {
	Meta
	UserID string
	Role   domain.OrgRole
}

// changeUserRole runs ChangeUserRole.
func (x *executor) changeUserRole(ctx context.Context, c ChangeUserRole) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeUserRole,
		target: func(act actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).ChangeRole(c.Role, c.ActorID)
		},
	})
}
