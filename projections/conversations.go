package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// Wire forms of the payloads of conversations and messages: sealed fields stay envelope
// strings.
type (
	conversationStarted struct {
		ConversationID string `json:"conversationId"`
		OrganizationID string `json:"organizationId"`
		SpaceID        string `json:"spaceId"`
		AssistantID    string `json:"assistantId"`
		StartedBy      string `json:"startedBy"`
	}
	messageWire struct {
		ConversationID string          `json:"conversationId"`
		MessageID      string          `json:"messageId"`
		Author         string          `json:"author"`
		InReplyTo      string          `json:"inReplyTo"`
		Text           string          `json:"text"`
		Excerpts       json.RawMessage `json:"excerpts"`
		// SentAt (a message) or RecordedAt (a reply) is the time the event records, which
		// sendMessage also returns; the append's metadata time is used when neither is set.
		SentAt     time.Time `json:"sentAt"`
		RecordedAt time.Time `json:"recordedAt"`
	}
)

// applyConversations projects the events of conversations and messages into the conversations
// and messages tables.
func (p *ReadModel) applyConversations(ctx context.Context, tx pgx.Tx, ev engine.Event, at time.Time) error {
	switch ev.Type {
	case evConvStarted:
		var e conversationStarted
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.ConversationID, e.StartedBy); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO conversations (conversation_id, organization_id, space_id, assistant_id,
				started_by, started_at, position)
			SELECT $1, organization_id, space_id, $3, $4, $5, $6 FROM spaces WHERE space_id = $2
			ON CONFLICT (conversation_id) DO UPDATE SET assistant_id = EXCLUDED.assistant_id,
				started_by = EXCLUDED.started_by, started_at = EXCLUDED.started_at, position = EXCLUDED.position`,
			e.ConversationID, e.SpaceID, e.AssistantID, e.StartedBy, at, pos(ev))
		return err
	case evMessageSent, evReplyRecorded:
		var e messageWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		role, author, inReplyTo := "USER", e.Author, any(nil)
		if ev.Type == evReplyRecorded {
			role, inReplyTo = "ASSISTANT", e.InReplyTo
		}
		if len(e.Excerpts) == 0 || string(e.Excerpts) == "null" {
			e.Excerpts = json.RawMessage("[]")
		}
		for _, t := range []time.Time{e.SentAt, e.RecordedAt} {
			if !t.IsZero() {
				at = t
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO messages (conversation_id, message_id, organization_id, space_id, role,
				author_id, in_reply_to, text, excerpts, sent_at, position)
			SELECT $1, $2, organization_id, space_id, $3, CASE WHEN $3 = 'USER' THEN $4 ELSE assistant_id END,
				$5, $6, $7, $8, $9 FROM conversations WHERE conversation_id = $1
			ON CONFLICT (conversation_id, message_id) DO UPDATE SET role = EXCLUDED.role, author_id = EXCLUDED.author_id,
				in_reply_to = EXCLUDED.in_reply_to, text = EXCLUDED.text, excerpts = EXCLUDED.excerpts,
				sent_at = EXCLUDED.sent_at, position = EXCLUDED.position`,
			e.ConversationID, e.MessageID, role, author, inReplyTo, ref(ev, "text", e.Text), e.Excerpts, at, pos(ev))
		return err
	}
	return nil
}

// deleteConversations deletes the conversations matching where ($1) and their messages.
func deleteConversations(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	_, err := tx.Exec(ctx, `WITH c AS (DELETE FROM conversations WHERE `+where+` RETURNING conversation_id)
		DELETE FROM messages WHERE conversation_id IN (SELECT conversation_id FROM c)`, arg)
	return err
}
