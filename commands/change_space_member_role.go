package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChangeSpaceMemberRole changes a member's role in a space (Space Admins).
type ChangeSpaceMemberRole struct {
	Meta
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
}

// ChangeSpaceMemberRoleHandler handles ChangeSpaceMemberRole.
type ChangeSpaceMemberRoleHandler struct{ x *executor }

// NewChangeSpaceMemberRoleHandler returns the handler; it refuses nil dependencies.
func NewChangeSpaceMemberRoleHandler(d Deps) (*ChangeSpaceMemberRoleHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &ChangeSpaceMemberRoleHandler{x}, nil
}

// Handle runs the command.
func (h *ChangeSpaceMemberRoleHandler) Handle(ctx context.Context, c ChangeSpaceMemberRole) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeSpaceMemberRole,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Space).ChangeMemberRole(c.UserID, c.Role)
		},
	})
}
