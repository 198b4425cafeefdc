package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// AddSpaceMember adds a user of the organisation to a space (Space Admins).
type AddSpaceMember struct {
	Meta
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
}

// AddSpaceMemberHandler handles AddSpaceMember.
type AddSpaceMemberHandler struct{ x *executor }

// NewAddSpaceMemberHandler returns the handler; it refuses nil dependencies.
func NewAddSpaceMemberHandler(d Deps) (*AddSpaceMemberHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &AddSpaceMemberHandler{x}, nil
}

// Handle runs the command.
func (h *AddSpaceMemberHandler) Handle(ctx context.Context, c AddSpaceMember) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdAddSpaceMember,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if err := domain.ValidateID("user id", c.UserID); err != nil {
				return err
			}
			u := domain.NewUser(c.UserID)
			if err := h.x.loadSameOrg(ctx, act, u, "user"); err != nil {
				return err
			}
			if !u.Active() {
				return domain.E(domain.KindNotFound, "space.add_member", "user not found")
			}
			return t.(*domain.Space).AddMember(c.UserID, c.Role)
		},
	})
}
