package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RecordAssistantReply records the assistant's answer to a message of the actor's
// conversation (space members; the RAG pipeline runs it on the user's behalf).
type RecordAssistantReply struct {
	Meta
	ConversationID string
	// MessageID is the reply's id; empty derives one from the command id.
	MessageID string
	InReplyTo string
	Text      string
	Excerpts  []domain.ExcerptRef
}

// recordAssistantReply runs RecordAssistantReply; Result.ID is the reply's id.
func (x *executor) recordAssistantReply(ctx context.Context, c RecordAssistantReply) (Result, error) {
	if err := domain.ValidateID("conversation id", c.ConversationID); err != nil {
		return Result{}, err
	}
	msg := orDefault(c.MessageID, DerivedID(c.CommandID, "message"))
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRecordAssistantReply,
		target: func(act actor) domain.Aggregate { return domain.NewConversation(c.ConversationID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Conversation).RecordReply(msg, c.InReplyTo, c.Text, c.Excerpts, act.id, x.d.Clock.Now().UTC())
		},
	})
	if err != nil {
		return Result{}, err
	}
	res.ID = msg
	return res, nil
}
