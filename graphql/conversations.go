package graphql

import (
	"context"
	"sync/atomic"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Conversations with assistants: their messages, sending a message and the subscriptions
// that stream messages and replies.

// ownConversation returns a conversation the caller started in a space they are still a
// member of; nil otherwise (conversations are private).
func (r *Resolver) ownConversation(ctx context.Context, p auth.Principal, id string) (*readmodels.Conversation, error) {
	if domain.ValidateID("conversation id", id) != nil {
		return nil, domain.E(domain.KindInvalid, "graphql.conversation", "conversation id must be a lower-case UUID")
	}
	c, err := r.Reads.Conversation(ctx, p.OrganizationID, id)
	if err != nil || c == nil || c.StartedBy != p.UserID {
		return nil, err
	}
	if ok, err := r.member(ctx, p, c.SpaceID); err != nil || !ok {
		return nil, err
	}
	return c, nil
}

// Conversation is the resolver for the conversation field.
func (r queryResolver) Conversation(ctx context.Context, id string, consistentAt *string) (*readmodels.Conversation, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	return r.ownConversation(ctx, p, id)
}

// Messages is the resolver for the messages field.
func (r conversationResolver) Messages(ctx context.Context, obj *readmodels.Conversation, first *int, after *string) (*readmodels.MessageConnection, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 100)
	if err != nil {
		return nil, err
	}
	c, err := r.Reads.Messages(ctx, p.OrganizationID, obj.ID, pg)
	return &c, err
}

// InReplyTo is the resolver for the inReplyTo field: null for a user's message.
func (messageResolver) InReplyTo(_ context.Context, obj *readmodels.Message) (*string, error) {
	return optional(obj.InReplyTo), nil
}

// ChunkID is the resolver for the chunkId field: null for replies recorded before it was
// kept.
func (excerptResolver) ChunkID(_ context.Context, obj *domain.ExcerptRef) (*string, error) {
	return optional(obj.ChunkID), nil
}

// StartConversation is the resolver for the startConversation field.
func (r mutationResolver) StartConversation(ctx context.Context, input generated.StartConversationInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.StartConversation, func(m commands.Meta) commands.StartConversation {
		return commands.StartConversation{Meta: m, AssistantID: input.AssistantID}
	})
}

// SendMessage is the resolver for the sendMessage field. The question runs through the Ask
// pipeline — retrieval within the assistant's limits, the organisation's model policy, the
// model — which records message, invocation and reply together. The model's tokens go to
// the conversation's replyStream subscribers as they arrive; the last delta says whether
// the reply was recorded.
func (r mutationResolver) SendMessage(ctx context.Context, in generated.SendMessageInput) (*generated.SendMessagePayload, error) {
	const op = "graphql.sendMessage"
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	replyID := commands.DerivedID(m.CommandID, "reply")
	var streamed atomic.Bool
	publish := func(d *generated.ReplyDelta) {
		if r.Replies != nil {
			r.Replies.Publish(p.OrganizationID, in.ConversationID, d)
		}
	}
	ask := commands.Ask{Meta: m, ConversationID: in.ConversationID, Text: in.Text}
	// Ask streams tokens only once it has authorised the caller as the conversation's owner
	// and the model policy has allowed the call, so only the owner's subscribers get them.
	ask.OnToken = func(delta string) {
		if delta == "" {
			return
		}
		streamed.Store(true)
		publish(&generated.ReplyDelta{ConversationID: in.ConversationID, MessageID: &replyID, Delta: delta})
	}
	res, err := r.App.Ask.Handle(ctx, ask)
	if err != nil {
		if streamed.Load() {
			code := domain.KindOf(err).String()
			publish(&generated.ReplyDelta{ConversationID: in.ConversationID, Done: true, Error: &code})
		}
		return nil, err
	}
	publish(&generated.ReplyDelta{ConversationID: in.ConversationID, MessageID: &res.ReplyID, Done: true})
	// The times are the recorded events' (sentAt, recordedAt), not this resolver's clock.
	sentAt, repliedAt := res.SentAt, res.RepliedAt
	if repliedAt.IsZero() {
		repliedAt = sentAt
	}
	text, reply := in.Text, res.Reply
	// The reply's author is the conversation's assistant; a conversation started a moment ago
	// may need the read models to catch up with the exchange first.
	conv, err := r.Reads.Conversation(ctx, p.OrganizationID, in.ConversationID)
	if err == nil && conv == nil {
		at := position(res.Position)
		if err = r.consistent(ctx, &at); err == nil {
			conv, err = r.Reads.Conversation(ctx, p.OrganizationID, in.ConversationID)
		}
	}
	if err != nil {
		return nil, err
	}
	if conv == nil {
		return nil, domain.E(domain.KindUnavailable, op, "the reply is recorded but not readable yet; read the conversation shortly")
	}
	excerpts := res.Excerpts
	if excerpts == nil {
		excerpts = []domain.ExcerptRef{}
	}
	return &generated.SendMessagePayload{
		ID: res.MessageID,
		Message: &readmodels.Message{ID: res.MessageID, ConversationID: in.ConversationID, Role: readmodels.MessageRoleUser,
			AuthorID: p.UserID, Text: &text, SentAt: sentAt, Excerpts: []domain.ExcerptRef{}},
		Reply: &readmodels.Message{ID: res.ReplyID, ConversationID: in.ConversationID, Role: readmodels.MessageRoleAssistant,
			AuthorID: conv.AssistantID, Text: &reply, SentAt: repliedAt, InReplyTo: res.MessageID, Excerpts: excerpts},
		Position: position(res.Position),
	}, nil
}

// MessageAdded is the resolver for the messageAdded field.
func (r subscriptionResolver) MessageAdded(ctx context.Context, conversationID string) (<-chan *readmodels.Message, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.ownConversation(ctx, p, conversationID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, domain.E(domain.KindNotFound, "graphql.messageAdded", "conversation not found")
	}
	return r.Feed.Messages(ctx, p.OrganizationID, conversationID)
}

// ReplyStream is the resolver for the replyStream field.
func (r subscriptionResolver) ReplyStream(ctx context.Context, conversationID string) (<-chan *generated.ReplyDelta, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.ownConversation(ctx, p, conversationID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, domain.E(domain.KindNotFound, "graphql.replyStream", "conversation not found")
	}
	if r.Replies == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.replyStream", "reply streaming is not available on this server")
	}
	return r.Replies.Subscribe(ctx, p.OrganizationID, conversationID), nil
}
