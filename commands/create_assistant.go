package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// CreateAssistant creates an assistant in a space (Creators and Admins who are Space
// Editors or Admins there).
type CreateAssistant struct {
	Meta
	// AssistantID is the new assistant's id; empty derives one from the command id.
	AssistantID string
	SpaceID     string
	Spec        domain.AssistantSpec
}

// CreateAssistantHandler handles CreateAssistant.
type CreateAssistantHandler struct{ x *executor }

// NewCreateAssistantHandler returns the handler; it refuses nil dependencies.
func NewCreateAssistantHandler(d Deps) (*CreateAssistantHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &CreateAssistantHandler{x}, nil
}

// Handle runs the command; Result.ID is the assistant's id.
func (h *CreateAssistantHandler) Handle(ctx context.Context, c CreateAssistant) (Result, error) {
	id := orDefault(c.AssistantID, DerivedID(c.CommandID, "assistant"))
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateAssistant,
		target: func(act actor) domain.Aggregate { return domain.NewAssistant(id) },
		create: true,
		space:  func(domain.Aggregate) string { return c.SpaceID },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			sp := domain.NewSpace(c.SpaceID)
			if err := h.x.loadSameOrg(ctx, act, sp, "space"); err != nil {
				return err
			}
			return t.(*domain.Assistant).Create(sp, c.Spec)
		},
	})
}
