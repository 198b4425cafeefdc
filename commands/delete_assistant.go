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

// DeleteAssistantHandler handles DeleteAssistant.
type DeleteAssistantHandler struct{ x *executor }

// NewDeleteAssistantHandler returns the handler; it refuses nil dependencies.
func NewDeleteAssistantHandler(d Deps) (*DeleteAssistantHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &DeleteAssistantHandler{x}, nil
}

// Handle runs the command.
func (h *DeleteAssistantHandler) Handle(ctx context.Context, c DeleteAssistant) (Result, error) {
	if err := domain.ValidateID("assistant id", c.AssistantID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeleteAssistant,
		target: func(act actor) domain.Aggregate { return domain.NewAssistant(c.AssistantID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Assistant).Delete()
		},
	})
}
