package graphql

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
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

// sendMessage records the user's message, asks the Answerer for the assistant's reply over
// the conversation's space and records the reply.
func (r *Resolver) sendMessage(ctx context.Context, in SendMessageInput) (*SendMessagePayload, error) {
	const op = "graphql.sendMessage"
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	sent, err := r.App.SendMessage.Handle(ctx, commands.SendMessage{Meta: m, ConversationID: in.ConversationID, Text: in.Text})
	if err != nil {
		return nil, err
	}
	sentAt := r.now().UTC()
	// The command accepted the message, so the conversation exists and is the caller's; the
	// read model knows it once it has caught up with the message.
	at := position(sent.Position)
	if err := r.consistent(ctx, &at); err != nil {
		return nil, err
	}
	conv, err := r.Reads.Conversation(ctx, p.OrganizationID, in.ConversationID)
	if err != nil {
		return nil, err
	}
	if conv == nil {
		return nil, domain.E(domain.KindUnavailable, op, "the conversation is not readable yet; retry shortly")
	}
	ans, err := r.Answerer.Answer(ctx, Question{OrganizationID: p.OrganizationID, SpaceID: conv.SpaceID,
		AssistantID: conv.AssistantID, ConversationID: conv.ID, Text: in.Text})
	if err != nil {
		return nil, err
	}
	rm := m
	rm.CommandID = m.CommandID + "/reply"
	rm.CausationID = m.CommandID
	reply, err := r.App.RecordAssistantReply.Handle(ctx, commands.RecordAssistantReply{Meta: rm,
		ConversationID: conv.ID, InReplyTo: sent.ID, Text: ans.Text, Excerpts: ans.Excerpts})
	if err != nil {
		return nil, err
	}
	text := in.Text
	excerpts := make([]Excerpt, len(ans.Excerpts))
	for i, e := range ans.Excerpts {
		excerpts[i] = Excerpt{DocumentID: e.DocumentID, ChunkIndex: e.ChunkIndex, Score: e.Score}
	}
	replyAt := r.now().UTC()
	inReplyTo := sent.ID
	return &SendMessagePayload{
		ID: sent.ID,
		Message: &Message{ID: sent.ID, ConversationID: conv.ID, Role: MessageRoleUser, AuthorID: p.UserID,
			Text: &text, SentAt: sentAt, Excerpts: []Excerpt{}},
		Reply: &Message{ID: reply.ID, ConversationID: conv.ID, Role: MessageRoleAssistant, AuthorID: conv.AssistantID,
			Text: &ans.Text, SentAt: replyAt, InReplyTo: &inReplyTo, Excerpts: excerpts},
		Position: position(reply.Position),
	}, nil
}
