package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// CreateSpace creates a space in the actor's organisation (Creators and Admins); the actor
// becomes its first Space Admin.
type CreateSpace struct {
	Meta
	// SpaceID is the new space's id; empty derives one from the command id.
	SpaceID        string
	Name           string
	Classification domain.Classification
}

// CreateSpaceHandler handles CreateSpace.
type CreateSpaceHandler struct{ x *executor }

// NewCreateSpaceHandler returns the handler; it refuses nil dependencies.
func NewCreateSpaceHandler(d Deps) (*CreateSpaceHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &CreateSpaceHandler{x}, nil
}

// Handle runs the command; Result.ID is the space's id.
func (h *CreateSpaceHandler) Handle(ctx context.Context, c CreateSpace) (Result, error) {
	id := orDefault(c.SpaceID, DerivedID(c.CommandID, "space"))
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateSpace,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(id) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			org := domain.NewOrganization(act.org)
			if err := h.x.loadSameOrg(ctx, act, org, "organisation"); err != nil {
				return err
			}
			return t.(*domain.Space).Create(act.org, c.Name, c.Classification, act.id, org.Settings())
		},
	})
}
