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

// DeactivateUserHandler handles DeactivateUser.
type DeactivateUserHandler struct{ x *executor }

// NewDeactivateUserHandler returns the handler; it refuses nil dependencies.
func NewDeactivateUserHandler(d Deps) (*DeactivateUserHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &DeactivateUserHandler{x}, nil
}

// Handle runs the command.
func (h *DeactivateUserHandler) Handle(ctx context.Context, c DeactivateUser) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeactivateUser,
		target: func(act actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).Deactivate(c.ActorID)
		},
	})
}
