package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// EnableSpaceModels sets the models enabled in a space (Space Admins): allow-listed models
// cleared for the space's classification.
type EnableSpaceModels struct {
	Meta
	SpaceID string
	Models  []domain.ModelID
}

// enableSpaceModels runs EnableSpaceModels.
func (x *executor) enableSpaceModels(ctx context.Context, c EnableSpaceModels) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdEnableSpaceModels,
		target: func(act actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		space:  domain.Aggregate.ID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			org := domain.NewOrganization(act.org)
			if err := x.loadSameOrg(ctx, act, org, "organisation"); err != nil {
				return err
			}
			return t.(*domain.Space).EnableModels(c.Models, org.Settings())
		},
	})
}
