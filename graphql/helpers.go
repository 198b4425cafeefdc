package graphql

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// member reports whether the caller is a member of a live space of their organisation.
// Spaces of other organisations and spaces the caller is not a member of are invisible.
func (r *Resolver) member(ctx context.Context, p auth.Principal, spaceID string) (bool, error) {
	if domain.ValidateID("space id", spaceID) != nil {
		return false, domain.E(domain.KindInvalid, "graphql.space", "space id must be a lower-case UUID")
	}
	role, err := r.Reads.SpaceRole(ctx, p.OrganizationID, spaceID, p.UserID)
	if err != nil {
		return false, err
	}
	return role != domain.SpaceRoleNone, nil
}

// ownConversation returns a conversation the caller started in a space they are still a
// member of; nil otherwise (conversations are private).
func (r *Resolver) ownConversation(ctx context.Context, p auth.Principal, id string) (*Conversation, error) {
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

// auditLog records the read (with its justification) through the ViewAuditLog command,
// which authorises it again, and then reads the entries.
func (r *Resolver) auditLog(ctx context.Context, filter *AuditFilter, justification string, first *int, after *string, consistentAt *string) (*AuditConnection, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	var f AuditFilter
	if filter != nil {
		f = *filter
	}
	from, to := time.Unix(0, 0).UTC(), r.now().UTC().Add(time.Second)
	if f.From != nil {
		from = *f.From
	}
	if f.To != nil {
		to = *f.To
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if _, err := r.App.ViewAuditLog.Handle(ctx, commands.ViewAuditLog{Meta: m, Justification: justification, From: from, To: to}); err != nil {
		return nil, err
	}
	return r.Reads.AuditLog(ctx, p.OrganizationID, f, pg)
}

// sendMessage runs the question through the Ask pipeline — retrieval within the
// assistant's limits, the organisation's model policy, the model — which records message,
// invocation and reply together. The model's tokens go to the conversation's replyStream
// subscribers as they arrive; the last delta says whether the reply was recorded.
func (r *Resolver) sendMessage(ctx context.Context, in SendMessageInput) (*SendMessagePayload, error) {
	const op = "graphql.sendMessage"
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	replyID := commands.DerivedID(m.CommandID, "reply")
	var streamed atomic.Bool
	publish := func(d *ReplyDelta) {
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
		publish(&ReplyDelta{ConversationID: in.ConversationID, MessageID: &replyID, Delta: delta})
	}
	res, err := r.App.Ask.Handle(ctx, ask)
	if err != nil {
		if streamed.Load() {
			code := domain.KindOf(err).String()
			publish(&ReplyDelta{ConversationID: in.ConversationID, Done: true, Error: &code})
		}
		return nil, err
	}
	publish(&ReplyDelta{ConversationID: in.ConversationID, MessageID: &res.ReplyID, Done: true})
	now := r.now().UTC()
	text, reply, inReplyTo := in.Text, res.Reply, res.MessageID
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
	assistant := conv.AssistantID
	return &SendMessagePayload{
		ID: res.MessageID,
		Message: &Message{ID: res.MessageID, ConversationID: in.ConversationID, Role: MessageRoleUser, AuthorID: p.UserID,
			Text: &text, SentAt: now, Excerpts: []Excerpt{}},
		Reply: &Message{ID: res.ReplyID, ConversationID: in.ConversationID, Role: MessageRoleAssistant, AuthorID: assistant,
			Text: &reply, SentAt: now, InReplyTo: &inReplyTo, Excerpts: excerpts(res.Excerpts)},
		Position: position(res.Position),
	}, nil
}

// excerpts renders excerpt references.
func excerpts(refs []domain.ExcerptRef) []Excerpt {
	out := make([]Excerpt, len(refs))
	for i, e := range refs {
		out[i] = Excerpt{DocumentID: e.DocumentID, ChunkIndex: e.ChunkIndex, Score: e.Score}
		if e.ChunkID != "" {
			id := e.ChunkID
			out[i].ChunkID = &id
		}
	}
	return out
}

// modelInvocations records the read of what was sent to models (with its filter and
// justification) through the ViewModelInvocations command, which authorises it again, and
// then reads the invocations.
func (r *Resolver) modelInvocations(ctx context.Context, filter *ModelInvocationFilter, justification *string, first *int, after *string, consistentAt *string) (*ModelInvocationConnection, error) {
	const op = "graphql.modelInvocations"
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 20)
	if err != nil {
		return nil, err
	}
	if r.Invocations == nil {
		return nil, domain.E(domain.KindUnavailable, op, "model invocations are not available on this server")
	}
	var f readmodels.ModelInvocationFilter
	if filter != nil {
		f.AssistantID, f.SpaceID, f.UserID = deref(filter.AssistantID), deref(filter.SpaceID), deref(filter.UserID)
		if filter.From != nil {
			f.From = *filter.From
		}
		if filter.To != nil {
			f.To = *filter.To
		}
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if _, err := r.App.ViewModelInvocations.Handle(ctx, commands.ViewModelInvocations{Meta: m, AssistantID: f.AssistantID,
		SpaceID: f.SpaceID, UserID: f.UserID, From: f.From, To: f.To, Justification: deref(justification)}); err != nil {
		return nil, err
	}
	conn, err := r.Invocations.ModelInvocations(ctx, p.OrganizationID, f, readmodels.Page{First: pg.First, After: pg.After})
	if err != nil {
		return nil, err
	}
	out := &ModelInvocationConnection{Edges: make([]ModelInvocationEdge, len(conn.Edges)),
		PageInfo: &PageInfo{HasNextPage: conn.PageInfo.HasNextPage}}
	if c := conn.PageInfo.EndCursor; c != "" {
		out.PageInfo.EndCursor = &c
	}
	for i, e := range conn.Edges {
		out.Edges[i] = ModelInvocationEdge{Cursor: e.Cursor, Node: invocation(e.Node)}
	}
	return out, nil
}

// invocation renders a model invocation.
func invocation(i readmodels.ModelInvocation) *ModelInvocation {
	out := &ModelInvocation{ID: i.InvocationID, OrganizationID: i.OrganizationID, SpaceID: i.SpaceID,
		AssistantID: i.AssistantID, UserID: i.UserID, ConversationID: i.ConversationID, MessageID: i.MessageID,
		Model: string(i.Model), Outcome: ModelInvocationOutcome(i.Outcome), Excerpts: excerpts(i.Excerpts),
		PayloadLogged: i.PayloadLogged, Request: i.Request, RequestComplete: i.RequestComplete, Response: i.Response,
		PromptTokens: i.PromptTokens, CompletionTokens: i.CompletionTokens, LatencyMillis: int(i.LatencyMillis),
		Attempts: i.Attempts, InvokedAt: i.InvokedAt, Position: position(i.Position)}
	if i.Region != "" {
		reg := Region(i.Region)
		out.Region = &reg
	}
	if i.Error != "" {
		e := i.Error
		out.Error = &e
	}
	if i.RequestSHA256 != "" {
		h := i.RequestSHA256
		out.RequestSha256 = &h
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
