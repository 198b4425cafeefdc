package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// UpdateAssistant replaces an assistant's configuration (Space Editors and Admins).
type UpdateAssistant struct {
	Meta
	AssistantID string
	Spec        domain.AssistantSpec
}

// updateAssistant runs UpdateAssistant.
func (x *executor) updateAssistant(ctx context.Context, c UpdateAssistant) (Result, error) {
	if err := domain.ValidateID("assistant id", c.AssistantID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdUpdateAssistant,
		target: func(act actor) domain.Aggregate { return domain.NewAssistant(c.AssistantID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			sp := domain.NewSpace(t.SpaceID())
			if err := x.loadSameOrg(ctx, act, sp, "space"); err != nil {
				return err
			}
			return t.(*domain.Assistant).Update(sp, c.Spec)
		},
	})
}
