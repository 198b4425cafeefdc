package readmodels

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// Assistant is a live assistant of a space. Name and Instructions are nil when erased.
type Assistant struct {
	ID               string
	OrganizationID   string
	SpaceID          string
	Name             *string
	Instructions     *string
	Model            domain.ModelID
	RetentionDays    int
	LogModelPayloads bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Position is the log position of the assistant's creation; lists are ordered by it.
	Position int64
	// CreatedBy and UpdatedBy are the pseudonymous ids of who created the assistant and who
	// changed it last: who is responsible for it.
	CreatedBy string
	UpdatedBy string
}

// Document is a live document's metadata. Title is nil when erased.
type Document struct {
	ID             string
	OrganizationID string
	SpaceID        string
	Title          *string
	ContentType    string
	SizeBytes      int64
	ChunkCount     int
	IngestedBy     string
	IngestedAt     time.Time
	Position       int64
}

// Conversation is a user's conversation with an assistant.
type Conversation struct {
	ID             string
	OrganizationID string
	SpaceID        string
	AssistantID    string
	StartedBy      string
	StartedAt      time.Time
}

// The roles of a message's author.
const (
	MessageRoleUser      = "USER"
	MessageRoleAssistant = "ASSISTANT"
)

// Message is a message of a conversation: the user's (Role MessageRoleUser, AuthorID the
// user) or the assistant's reply (MessageRoleAssistant, AuthorID the assistant, InReplyTo the
// message answered, Excerpts the document chunks used). Text is nil when erased.
type Message struct {
	ID             string
	ConversationID string
	Role           string
	AuthorID       string
	InReplyTo      string
	Text           *string
	Excerpts       []domain.ExcerptRef
	SentAt         time.Time
	Position       int64
}

func posCursor(kind string, p int64) string { return encodeCursor(kind, strconv.FormatInt(p, 10)) }

const assistantCols = `assistant_id, organization_id, space_id, name, instructions, model, retention_days,
	log_model_payloads, created_at, updated_at, position, created_by, updated_by`

// Assistants returns the live assistants of a space of the organisation, oldest first.
func (r *Reader) Assistants(ctx context.Context, orgID, spaceID string, p Page) (Connection[Assistant], error) {
	const op = "readmodels.Assistants"
	limit, err := p.limit()
	if err != nil {
		return Connection[Assistant]{}, err
	}
	after, err := positionCursor("assistant", p.After)
	if err != nil {
		return Connection[Assistant]{}, err
	}
	rows, err := r.pool.Query(ctx, `SELECT `+assistantCols+` FROM assistants
		WHERE organization_id = $1 AND space_id = $2 AND position > $3 ORDER BY position LIMIT $4`,
		orgID, spaceID, after, limit+1)
	if err != nil {
		return Connection[Assistant]{}, pgErr(op, err)
	}
	defer rows.Close()
	var out []Assistant
	for rows.Next() {
		a, err := r.scanAssistant(ctx, rows)
		if err != nil {
			return Connection[Assistant]{}, pgErr(op, err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return Connection[Assistant]{}, pgErr(op, err)
	}
	return connection(out, limit, func(a Assistant) string { return posCursor("assistant", a.Position) }), nil
}

// Assistant returns a live assistant of the organisation, nil when there is none.
func (r *Reader) Assistant(ctx context.Context, orgID, assistantID string) (*Assistant, error) {
	a, err := r.scanAssistant(ctx, r.pool.QueryRow(ctx, `SELECT `+assistantCols+` FROM assistants
		WHERE organization_id = $1 AND assistant_id = $2`, orgID, assistantID))
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	return a, pgErr("readmodels.Assistant", err)
}

func (r *Reader) scanAssistant(ctx context.Context, row pgx.Row) (*Assistant, error) {
	var a Assistant
	var name, instr *sealedRef
	if err := row.Scan(&a.ID, &a.OrganizationID, &a.SpaceID, &name, &instr, &a.Model, &a.RetentionDays,
		&a.LogModelPayloads, &a.CreatedAt, &a.UpdatedAt, &a.Position, &a.CreatedBy, &a.UpdatedBy); err != nil {
		return nil, err
	}
	var err error
	if a.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	if a.Instructions, err = r.open(ctx, instr); err != nil {
		return nil, err
	}
	return &a, nil
}

const documentCols = `document_id, organization_id, space_id, title, content_type, size_bytes, chunk_count,
	ingested_by, ingested_at, position`

func (r *Reader) scanDocument(ctx context.Context, row pgx.Row) (*Document, error) {
	var d Document
	var title *sealedRef
	if err := row.Scan(&d.ID, &d.OrganizationID, &d.SpaceID, &title, &d.ContentType, &d.SizeBytes, &d.ChunkCount,
		&d.IngestedBy, &d.IngestedAt, &d.Position); err != nil {
		return nil, err
	}
	var err error
	if d.Title, err = r.open(ctx, title); err != nil {
		return nil, err
	}
	return &d, nil
}

// Documents returns the live documents of a space of the organisation, oldest first,
// without their content.
func (r *Reader) Documents(ctx context.Context, orgID, spaceID string, p Page) (Connection[Document], error) {
	const op = "readmodels.Documents"
	limit, err := p.limit()
	if err != nil {
		return Connection[Document]{}, err
	}
	after, err := positionCursor("document", p.After)
	if err != nil {
		return Connection[Document]{}, err
	}
	rows, err := r.pool.Query(ctx, `SELECT `+documentCols+` FROM documents
		WHERE organization_id = $1 AND space_id = $2 AND position > $3 ORDER BY position LIMIT $4`,
		orgID, spaceID, after, limit+1)
	if err != nil {
		return Connection[Document]{}, pgErr(op, err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d, err := r.scanDocument(ctx, rows)
		if err != nil {
			return Connection[Document]{}, pgErr(op, err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return Connection[Document]{}, pgErr(op, err)
	}
	return connection(out, limit, func(d Document) string { return posCursor("document", d.Position) }), nil
}

// Document returns a live document of the organisation without its content, nil when there
// is none.
func (r *Reader) Document(ctx context.Context, orgID, documentID string) (*Document, error) {
	d, err := r.scanDocument(ctx, r.pool.QueryRow(ctx, `SELECT `+documentCols+` FROM documents
		WHERE organization_id = $1 AND document_id = $2`, orgID, documentID))
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	return d, pgErr("readmodels.Document", err)
}

// DocumentContent returns a live document's decrypted text; nil when there is no such
// document in the organisation or its text is erased.
func (r *Reader) DocumentContent(ctx context.Context, orgID, documentID string) (*string, error) {
	const op = "readmodels.DocumentContent"
	rows, err := r.pool.Query(ctx, `SELECT c.text FROM document_chunks c
		JOIN documents d ON d.document_id = c.document_id
		WHERE d.organization_id = $1 AND d.document_id = $2 ORDER BY c.chunk_index`, orgID, documentID)
	if err != nil {
		return nil, pgErr(op, err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[sealedRef])
	if err != nil {
		return nil, pgErr(op, err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for i := range refs {
		s, err := r.open(ctx, &refs[i])
		if err != nil || s == nil {
			return nil, err
		}
		b.WriteString(*s)
	}
	text := b.String()
	return &text, nil
}

// Conversation returns a conversation of the organisation, nil when there is none. Whether
// the caller owns it (conversations are private) is StartedBy.
func (r *Reader) Conversation(ctx context.Context, orgID, conversationID string) (*Conversation, error) {
	var c Conversation
	ok, err := one(ctx, r.pool, "readmodels.Conversation", `SELECT conversation_id, organization_id, space_id,
		assistant_id, started_by, started_at FROM conversations WHERE organization_id = $1 AND conversation_id = $2`,
		[]any{orgID, conversationID}, &c.ID, &c.OrganizationID, &c.SpaceID, &c.AssistantID, &c.StartedBy, &c.StartedAt)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}

// Messages returns a conversation's messages, oldest first. A message whose text is erased
// (or past retention) is listed with Text nil; the messages of an erased conversation or
// author have no rows any more.
func (r *Reader) Messages(ctx context.Context, orgID, conversationID string, p Page) (Connection[Message], error) {
	const op = "readmodels.Messages"
	limit, err := p.limit()
	if err != nil {
		return Connection[Message]{}, err
	}
	after, err := positionCursor("message", p.After)
	if err != nil {
		return Connection[Message]{}, err
	}
	out, err := r.messages(ctx, op, orgID, conversationID, after, limit+1)
	if err != nil {
		return Connection[Message]{}, err
	}
	return connection(out, limit, func(m Message) string { return posCursor("message", m.Position) }), nil
}

// MessagesAfter returns up to limit messages of a conversation of the organisation recorded
// after log position after, oldest first, like Messages: what a subscription has not
// delivered yet.
func (r *Reader) MessagesAfter(ctx context.Context, orgID, conversationID string, after int64, limit int) ([]Message, error) {
	const op = "readmodels.MessagesAfter"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	return r.messages(ctx, op, orgID, conversationID, after, limit)
}

// LastMessagePosition returns the log position of the latest message of a conversation of
// the organisation, 0 when it has none (or is not the organisation's): where a
// subscription starts.
func (r *Reader) LastMessagePosition(ctx context.Context, orgID, conversationID string) (int64, error) {
	var last int64
	_, err := one(ctx, r.pool, "readmodels.LastMessagePosition", `SELECT coalesce(max(position), 0) FROM messages
		WHERE organization_id = $1 AND conversation_id = $2`, []any{orgID, conversationID}, &last)
	return last, err
}

// Message returns one message of the organisation by id, its text decrypted; nil when there
// is none. Whoever asks must own its conversation: the caller checks.
func (r *Reader) Message(ctx context.Context, orgID, messageID string) (*Message, error) {
	ms, err := r.scanMessages(ctx, "readmodels.Message", `SELECT message_id, conversation_id, role, author_id, coalesce(in_reply_to, ''),
			text, excerpts, sent_at, position
		FROM messages WHERE organization_id = $1 AND message_id = $2`, orgID, messageID)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return &ms[0], nil
}

// messages reads up to limit messages after a position, decrypting their text.
func (r *Reader) messages(ctx context.Context, op, orgID, conversationID string, after int64, limit int) ([]Message, error) {
	return r.scanMessages(ctx, op, `SELECT message_id, conversation_id, role, author_id, coalesce(in_reply_to, ''),
			text, excerpts, sent_at, position
		FROM messages WHERE organization_id = $1 AND conversation_id = $2 AND position > $3
		ORDER BY position, message_id LIMIT $4`, orgID, conversationID, after, limit)
}

func (r *Reader) scanMessages(ctx context.Context, op, sql string, args ...any) ([]Message, error) {
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var text *sealedRef
		var excerpts []byte
		if err := rows.Scan(&m.ID, &m.ConversationID, &m.Role, &m.AuthorID, &m.InReplyTo, &text, &excerpts,
			&m.SentAt, &m.Position); err != nil {
			return nil, pgErr(op, err)
		}
		if err := json.Unmarshal(excerpts, &m.Excerpts); err != nil {
			return nil, domain.Wrap(domain.KindInternal, op, err, "bad stored excerpts")
		}
		if m.Excerpts == nil {
			m.Excerpts = []domain.ExcerptRef{}
		}
		if m.Text, err = r.open(ctx, text); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, pgErr(op, rows.Err())
}
