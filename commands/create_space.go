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

// createSpace runs CreateSpace; Result.ID is the space's id.
func (x *executor) createSpace(ctx context.Context, c CreateSpace) (Result, error) {
	id := orDefault(c.SpaceID, DerivedID(c.CommandID, "space"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateSpace,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(id) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			org := domain.NewOrganization(act.org)
			if err := x.loadSameOrg(ctx, act, org, "organisation"); err != nil {
				return err
			}
			return t.(*domain.Space).Create(act.org, c.Name, c.Classification, act.id, org.Settings())
		},
	})
}
