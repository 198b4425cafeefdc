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

// createAssistant runs CreateAssistant; Result.ID is the assistant's id.
func (x *executor) createAssistant(ctx context.Context, c CreateAssistant) (Result, error) {
	id := orDefault(c.AssistantID, DerivedID(c.CommandID, "assistant"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateAssistant,
		target: func(act actor) domain.Aggregate { return domain.NewAssistant(id) },
		create: true,
		space:  func(domain.Aggregate) string { return c.SpaceID },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			sp := domain.NewSpace(c.SpaceID)
			if err := x.loadSameOrg(ctx, act, sp, "space"); err != nil {
				return err
			}
			return t.(*domain.Assistant).Create(sp, c.Spec)
		},
	})
}
