package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RegisterUser adds a user to the actor's organisation (Admins).
type RegisterUser struct {
	Meta
	// UserID is the new user's id; empty derives one from the command id.
	UserID string
	Email  string
	Name   string
	Role   domain.OrgRole
}

// registerUser runs RegisterUser; Result.ID is the user's id.
func (x *executor) registerUser(ctx context.Context, c RegisterUser) (Result, error) {
	id := orDefault(c.UserID, DerivedID(c.CommandID, "user"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRegisterUser,
		target: func(act actor) domain.Aggregate { return domain.NewUser(id) },
		create: true,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).Register(act.org, c.Email, c.Name, c.Role)
		},
	})
}
