package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChangeOrganizationSettings replaces the actor's organisation's settings (Admins). The
// models allow-listed must be entries of the operator's model catalogue: their endpoints
// and regions are the catalogue's.
type ChangeOrganizationSettings struct {
	Meta
	Settings domain.OrganizationSettings
}

// changeOrganizationSettings runs ChangeOrganizationSettings.
func (x *executor) changeOrganizationSettings(ctx context.Context, c ChangeOrganizationSettings) (Result, error) {
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeOrganizationSettings,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			s, err := x.classifyModels(c.Settings)
			if err != nil {
				return err
			}
			return t.(*domain.Organization).ChangeSettings(s)
		},
	})
}
