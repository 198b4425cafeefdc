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

// RemoveSpaceMemberHandler handles RemoveSpaceMember.
type RemoveSpaceMemberHandler struct{ x *executor }

// NewRemoveSpaceMemberHandler returns the handler; it refuses nil dependencies.
func NewRemoveSpaceMemberHandler(d Deps) (*RemoveSpaceMemberHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &RemoveSpaceMemberHandler{x}, nil
}

// Handle runs the command.
func (h *RemoveSpaceMemberHandler) Handle(ctx context.Context, c RemoveSpaceMember) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRemoveSpaceMember,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Space).RemoveMember(c.UserID)
		},
	})
}
