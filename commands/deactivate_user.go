package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeactivateUser stops a user from acting (Admins; not themselves).
type DeactivateUser struct {
	Meta
	UserID string
}

// deactivateUser runs DeactivateUser.
func (x *executor) deactivateUser(ctx context.Context, c DeactivateUser) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeactivateUser,
		target: func(act actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).Deactivate(c.ActorID)
		},
	})
}
