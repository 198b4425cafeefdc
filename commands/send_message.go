package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// SendMessage records the actor's message in their own conversation (space members).
type SendMessage struct {
	Meta
	ConversationID string
	// MessageID is the message's id; empty derives one from the command id.
	MessageID string
	Text      string
}

// sendMessage runs SendMessage; Result.ID is the message's id.
func (x *executor) sendMessage(ctx context.Context, c SendMessage) (Result, error) {
	if err := domain.ValidateID("conversation id", c.ConversationID); err != nil {
		return Result{}, err
	}
	msg := orDefault(c.MessageID, DerivedID(c.CommandID, "message"))
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdSendMessage,
		target: func(act actor) domain.Aggregate { return domain.NewConversation(c.ConversationID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Conversation).SendMessage(msg, act.id, c.Text, x.d.Clock.Now().UTC())
		},
	})
	if err != nil {
		return Result{}, err
	}
	res.ID = msg
	return res, nil
}
