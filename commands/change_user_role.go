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

// ChangeUserRoleHandler handles ChangeUserRole.
type ChangeUserRoleHandler struct{ x *executor }

// NewChangeUserRoleHandler returns the handler; it refuses nil dependencies.
func NewChangeUserRoleHandler(d Deps) (*ChangeUserRoleHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &ChangeUserRoleHandler{x}, nil
}

// Handle runs the command.
func (h *ChangeUserRoleHandler) Handle(ctx context.Context, c ChangeUserRole) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeUserRole,
		target: func(act actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).ChangeRole(c.Role, c.ActorID)
		},
	})
}
