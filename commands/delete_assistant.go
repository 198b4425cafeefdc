package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteAssistant deletes an assistant (Space Admins).
type DeleteAssistant struct {
	Meta
	AssistantID string
}

// deleteAssistant runs DeleteAssistant.
func (x *executor) deleteAssistant(ctx context.Context, c DeleteAssistant) (Result, error) {
	if err := domain.ValidateID("assistant id", c.AssistantID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeleteAssistant,
		target: func(act actor) domain.Aggregate { return domain.NewAssistant(c.AssistantID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Assistant).Delete()
		},
	})
}
