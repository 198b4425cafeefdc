package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChangeOrganizationSettings replaces the actor's organisation's settings (Admins).
type ChangeOrganizationSettings struct {
	Meta
	Settings domain.OrganizationSettings
}

// ChangeOrganizationSettingsHandler handles ChangeOrganizationSettings.
type ChangeOrganizationSettingsHandler struct{ x *executor }

// NewChangeOrganizationSettingsHandler returns the handler; it refuses nil dependencies.
func NewChangeOrganizationSettingsHandler(d Deps) (*ChangeOrganizationSettingsHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &ChangeOrganizationSettingsHandler{x}, nil
}

// Handle runs the command.
func (h *ChangeOrganizationSettingsHandler) Handle(ctx context.Context, c ChangeOrganizationSettings) (Result, error) {
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdChangeOrganizationSettings,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Organization).ChangeSettings(c.Settings)
		},
	})
}
