package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// StartConversation starts the actor's conversation with an assistant (space members).
type StartConversation struct {
	Meta
	// ConversationID is the new conversation's id; empty derives one from the command id.
	ConversationID string
	AssistantID    string
}

// startConversation runs StartConversation; Result.ID is the conversation's id.
func (x *executor) startConversation(ctx context.Context, c StartConversation) (Result, error) {
	if err := domain.ValidateID("assistant id", c.AssistantID); err != nil {
		return Result{}, err
	}
	id := orDefault(c.ConversationID, DerivedID(c.CommandID, "conversation"))
	var asst *domain.Assistant
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdStartConversation,
		target: func(act actor) domain.Aggregate { return domain.NewConversation(id) },
		create: true,
		space: func(domain.Aggregate) string {
			return asst.SpaceID()
		},
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Conversation).Start(asst, act.id)
		},
		prepare: func(ctx context.Context, act actor) error {
			// The assistant's organisation is checked by authorization, through its space.
			asst = domain.NewAssistant(c.AssistantID)
			if _, err := x.load(ctx, asst); err != nil {
				return err
			}
			if asst.OrganizationID() == "" {
				return domain.E(domain.KindNotFound, "conversation.start", "assistant not found")
			}
			return nil
		},
	})
}
