package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RecordModelInvocation records a model call made for a message of the actor's
// conversation (space members; the RAG pipeline runs it on the user's behalf). Payloads
// are kept only when the assistant logs model payloads.
type RecordModelInvocation struct {
	Meta
	ConversationID string
	Invocation     domain.ModelInvocation
}

// recordModelInvocation runs RecordModelInvocation; Result.ID is the invocation's id.
func (x *executor) recordModelInvocation(ctx context.Context, c RecordModelInvocation) (Result, error) {
	if err := domain.ValidateID("conversation id", c.ConversationID); err != nil {
		return Result{}, err
	}
	inv := c.Invocation
	inv.InvocationID = orDefault(inv.InvocationID, DerivedID(c.CommandID, "invocation"))
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRecordModelInvocation,
		target: func(act actor) domain.Aggregate { return domain.NewConversation(c.ConversationID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			conv := t.(*domain.Conversation)
			asst := domain.NewAssistant(conv.AssistantID())
			if err := x.loadSameOrg(ctx, act, asst, "assistant"); err != nil {
				return err
			}
			org := domain.NewOrganization(act.org)
			if _, err := x.load(ctx, org); err != nil {
				return err
			}
			inv := inv
			inv.PayloadLoggingForbidden = org.Settings().ForbidModelPayloadLogging
			return conv.RecordModelInvocation(asst, inv, act.id, x.d.Clock.Now().UTC())
		},
	})
	if err != nil {
		return Result{}, err
	}
	res.ID = inv.InvocationID
	return res, nil
}
