package projections

import (
	"context"
	"encoding/json"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameReadModel is the name (checkpoint key) of the relational read-model projection.
const NameReadModel = "readmodel"

// ReadModel projects organisations, users, spaces and their members, assistants, documents
// (metadata and text envelopes), conversations and messages into the tables readmodels/
// queries. It is idempotent: every write is an upsert or a delete keyed by ids.
type ReadModel struct {
	streams StreamReader
	er      erasures
}

// NewReadModel returns the projection; streams re-reads erased subjects' streams on restore.
func NewReadModel(streams StreamReader) *ReadModel {
	return &ReadModel{streams: streams, er: erasures{table: "readmodel_erasures"}}
}

// Name implements engine.Projection.
func (*ReadModel) Name() string { return NameReadModel }

// Tables implements engine.Projection.
func (*ReadModel) Tables() []string {
	return []string{"organizations", "users", "spaces", "space_members", "assistants", "documents",
		"document_chunks", "conversations", "messages", "readmodel_erasures"}
}

// wire forms of the payloads: sealed fields stay envelope strings.
type (
	orgCreated struct {
		OrganizationID string          `json:"organizationId"`
		Name           string          `json:"name"`
		Settings       json.RawMessage `json:"settings"`
	}
	userRegistered struct {
		UserID         string `json:"userId"`
		OrganizationID string `json:"organizationId"`
		Email          string `json:"email"`
		Name           string `json:"name"`
		Role           string `json:"role"`
	}
	userRef struct {
		UserID string `json:"userId"`
		Role   string `json:"role"`
	}
	spaceCreated struct {
		SpaceID        string `json:"spaceId"`
		OrganizationID string `json:"organizationId"`
		Name           string `json:"name"`
		Classification string `json:"classification"`
		CreatedBy      string `json:"createdBy"`
	}
	spaceMember struct {
		SpaceID string   `json:"spaceId"`
		UserID  string   `json:"userId"`
		Role    string   `json:"role"`
		Models  []string `json:"models"`
	}
	assistantWire struct {
		AssistantID      string `json:"assistantId"`
		OrganizationID   string `json:"organizationId"`
		SpaceID          string `json:"spaceId"`
		Name             string `json:"name"`
		Instructions     string `json:"instructions"`
		Model            string `json:"model"`
		RetentionDays    int    `json:"retentionDays"`
		LogModelPayloads bool   `json:"logModelPayloads"`
	}
	documentIngested struct {
		DocumentID     string `json:"documentId"`
		OrganizationID string `json:"organizationId"`
		SpaceID        string `json:"spaceId"`
		Title          string `json:"title"`
		ContentType    string `json:"contentType"`
		SizeBytes      int64  `json:"sizeBytes"`
		ChunkCount     int    `json:"chunkCount"`
		IngestedBy     string `json:"ingestedBy"`
	}
	documentChunk struct {
		DocumentID string `json:"documentId"`
		Index      int    `json:"index"`
		Text       string `json:"text"`
	}
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
	}
)

// Apply implements engine.Projection.
func (p *ReadModel) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	switch ev.Type {
	case evErasureRequested:
		return p.erase(ctx, tx, ev)
	case evErasureRestored:
		var r erasureRef
		if err := decode(ev, &r); err != nil {
			return err
		}
		streams, ok, err := p.er.restore(ctx, tx, r.ErasureID)
		if err != nil || !ok {
			return err
		}
		return replay(ctx, p.streams, streams, ev.Position, func(ctx context.Context, e engine.Event) error {
			return p.apply(ctx, tx, e)
		})
	case evErasureCompleted:
		var r erasureRef
		if err := decode(ev, &r); err != nil {
			return err
		}
		return p.er.complete(ctx, tx, r.ErasureID)
	}
	return p.apply(ctx, tx, ev)
}

// apply projects one event of an aggregate stream. Rows of subjects under erasure are not
// written: a child row needs its parent row (gone while the parent is erased), top-level rows
// check the erasure table.
func (p *ReadModel) apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	m := metaOf(ev)
	at := m.OccurredAt
	switch ev.Type {
	case evOrgCreated:
		var e orgCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.OrganizationID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO organizations (organization_id, name, settings, created_at, updated_at, position)
			VALUES ($1, $2, $3, $4, $4, $5)
			ON CONFLICT (organization_id) DO UPDATE SET name = EXCLUDED.name, settings = EXCLUDED.settings,
				created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, position = EXCLUDED.position`,
			e.OrganizationID, ref(ev, "name", e.Name), e.Settings, at, pos(ev))
		return err
	case evOrgSettings:
		var e orgCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE organizations SET settings = $2, updated_at = $3 WHERE organization_id = $1`,
			e.OrganizationID, e.Settings, at)
		return err
	case evUserRegistered:
		var e userRegistered
		if err := decode(ev, &e); err != nil {
			return err
		}
		hid, err := p.er.hidden(ctx, tx, e.UserID)
		if err != nil {
			return err
		}
		email, name := ref(ev, "email", e.Email), ref(ev, "name", e.Name)
		if hid {
			email, name = nil, nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO users (user_id, organization_id, email, name, role, active, erased, registered_at, position)
			SELECT $1, $2, $3, $4, $5, true, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM organizations WHERE organization_id = $2)
			ON CONFLICT (user_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, email = EXCLUDED.email,
				name = EXCLUDED.name, role = EXCLUDED.role, active = true, erased = EXCLUDED.erased,
				registered_at = EXCLUDED.registered_at, position = EXCLUDED.position`,
			e.UserID, e.OrganizationID, email, name, e.Role, hid, at, pos(ev))
		return err
	case evUserRole:
		var e userRef
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE users SET role = $2 WHERE user_id = $1`, e.UserID, e.Role)
		return err
	case evUserDeactivated:
		var e userRef
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE users SET active = false WHERE user_id = $1`, e.UserID)
		return err
	case evSpaceCreated:
		var e spaceCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.SpaceID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO spaces (space_id, organization_id, name, classification, created_by, created_at, position)
			SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM organizations WHERE organization_id = $2)
			ON CONFLICT (space_id) DO UPDATE SET name = EXCLUDED.name, classification = EXCLUDED.classification,
				created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at, position = EXCLUDED.position`,
			e.SpaceID, e.OrganizationID, ref(ev, "name", e.Name), e.Classification, e.CreatedBy, at, pos(ev))
		return err
	case evMemberAdded:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.UserID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO space_members (space_id, user_id, organization_id, role, added_at)
			SELECT space_id, $2, organization_id, $3, $4 FROM spaces WHERE space_id = $1
			ON CONFLICT (space_id, user_id) DO UPDATE SET role = EXCLUDED.role, added_at = EXCLUDED.added_at`,
			e.SpaceID, e.UserID, e.Role, at)
		return err
	case evMemberRemoved:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM space_members WHERE space_id = $1 AND user_id = $2`, e.SpaceID, e.UserID)
		return err
	case evMemberRole:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE space_members SET role = $3 WHERE space_id = $1 AND user_id = $2`, e.SpaceID, e.UserID, e.Role)
		return err
	case evModelsEnabled:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		if e.Models == nil {
			e.Models = []string{}
		}
		_, err := tx.Exec(ctx, `UPDATE spaces SET models = $2 WHERE space_id = $1`, e.SpaceID, e.Models)
		return err
	case evSpaceDeleted:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		return deleteSpace(ctx, tx, "space_id = $1", e.SpaceID)
	case evAssistantCreated:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO assistants (assistant_id, organization_id, space_id, name, instructions, model,
				retention_days, log_model_payloads, created_at, updated_at, position)
			SELECT $1, organization_id, space_id, $3, $4, $5, $6, $7, $8, $8, $9 FROM spaces WHERE space_id = $2
			ON CONFLICT (assistant_id) DO UPDATE SET name = EXCLUDED.name, instructions = EXCLUDED.instructions,
				model = EXCLUDED.model, retention_days = EXCLUDED.retention_days,
				log_model_payloads = EXCLUDED.log_model_payloads, created_at = EXCLUDED.created_at,
				updated_at = EXCLUDED.updated_at, position = EXCLUDED.position`,
			e.AssistantID, e.SpaceID, ref(ev, "name", e.Name), ref(ev, "instructions", e.Instructions), e.Model,
			e.RetentionDays, e.LogModelPayloads, at, pos(ev))
		return err
	case evAssistantUpdated:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE assistants SET name = $2, instructions = $3, model = $4, retention_days = $5,
				log_model_payloads = $6, updated_at = $7 WHERE assistant_id = $1`,
			e.AssistantID, ref(ev, "name", e.Name), ref(ev, "instructions", e.Instructions), e.Model,
			e.RetentionDays, e.LogModelPayloads, at)
		return err
	case evAssistantDeleted:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM assistants WHERE assistant_id = $1`, e.AssistantID)
		return err
	case evDocIngested:
		var e documentIngested
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.DocumentID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO documents (document_id, organization_id, space_id, title, content_type,
				size_bytes, chunk_count, ingested_by, ingested_at, position)
			SELECT $1, organization_id, space_id, $3, $4, $5, $6, $7, $8, $9 FROM spaces WHERE space_id = $2
			ON CONFLICT (document_id) DO UPDATE SET title = EXCLUDED.title, content_type = EXCLUDED.content_type,
				size_bytes = EXCLUDED.size_bytes, chunk_count = EXCLUDED.chunk_count, ingested_by = EXCLUDED.ingested_by,
				ingested_at = EXCLUDED.ingested_at, position = EXCLUDED.position`,
			e.DocumentID, e.SpaceID, ref(ev, "title", e.Title), e.ContentType, e.SizeBytes, e.ChunkCount,
			e.IngestedBy, at, pos(ev))
		return err
	case evDocChunk:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO document_chunks (document_id, chunk_index, text)
			SELECT $1, $2, $3 FROM documents WHERE document_id = $1
			ON CONFLICT (document_id, chunk_index) DO UPDATE SET text = EXCLUDED.text`,
			e.DocumentID, e.Index, ref(ev, "text", e.Text))
		return err
	case evDocDeleted:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		return deleteDocuments(ctx, tx, "document_id = $1", e.DocumentID)
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

// deleteDocuments deletes the documents matching where ($1) and their chunks.
func deleteDocuments(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	_, err := tx.Exec(ctx, `WITH d AS (DELETE FROM documents WHERE `+where+` RETURNING document_id)
		DELETE FROM document_chunks WHERE document_id IN (SELECT document_id FROM d)`, arg)
	return err
}

// deleteConversations deletes the conversations matching where ($1) and their messages.
func deleteConversations(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	_, err := tx.Exec(ctx, `WITH c AS (DELETE FROM conversations WHERE `+where+` RETURNING conversation_id)
		DELETE FROM messages WHERE conversation_id IN (SELECT conversation_id FROM c)`, arg)
	return err
}

// deleteSpace deletes the spaces matching where ($1) with everything in them.
func deleteSpace(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	ids, err := queryStrings(ctx, tx, `DELETE FROM spaces WHERE `+where+` RETURNING space_id`, arg)
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, sql := range []string{
		`DELETE FROM space_members WHERE space_id = ANY($1)`,
		`DELETE FROM assistants WHERE space_id = ANY($1)`,
	} {
		if _, err := tx.Exec(ctx, sql, ids); err != nil {
			return err
		}
	}
	if err := deleteDocuments(ctx, tx, "space_id = ANY($1)", ids); err != nil {
		return err
	}
	return deleteConversations(ctx, tx, "space_id = ANY($1)", ids)
}

// erase removes what the projection derived from the subject of an erasure order and
// records the streams to re-read on restore.
func (p *ReadModel) erase(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	var r erasureRequested
	if err := decode(ev, &r); err != nil {
		return err
	}
	id := r.SubjectID
	var streams []string
	add := func(prefix, sql string) error {
		ids, err := queryStrings(ctx, tx, sql, id)
		for _, x := range ids {
			streams = append(streams, prefix+x)
		}
		return err
	}
	var err error
	switch domain.SubjectKind(r.SubjectType) {
	case domain.SubjectDocument:
		streams = []string{streamDocument + id}
		err = deleteDocuments(ctx, tx, "document_id = $1", id)
	case domain.SubjectConversation:
		streams = []string{streamConversation + id}
		err = deleteConversations(ctx, tx, "conversation_id = $1", id)
	case domain.SubjectUser:
		streams = []string{streamUser + id}
		if err = add(streamSpace, `SELECT space_id FROM space_members WHERE user_id = $1`); err != nil {
			return err
		}
		if err = add(streamConversation, `SELECT conversation_id FROM conversations WHERE started_by = $1
			UNION SELECT conversation_id FROM messages WHERE author_id = $1`); err != nil {
			return err
		}
		for _, sql := range []string{
			`UPDATE users SET email = NULL, name = NULL, erased = true WHERE user_id = $1`,
			`DELETE FROM space_members WHERE user_id = $1`,
			`DELETE FROM messages WHERE author_id = $1`,
		} {
			if _, err = tx.Exec(ctx, sql, id); err != nil {
				return err
			}
		}
		err = deleteConversations(ctx, tx, "started_by = $1", id)
	case domain.SubjectSpace:
		streams = []string{streamSpace + id}
		for prefix, sql := range map[string]string{
			streamDocument:     `SELECT document_id FROM documents WHERE space_id = $1`,
			streamAssistant:    `SELECT assistant_id FROM assistants WHERE space_id = $1`,
			streamConversation: `SELECT conversation_id FROM conversations WHERE space_id = $1`,
		} {
			if err = add(prefix, sql); err != nil {
				return err
			}
		}
		err = deleteSpace(ctx, tx, "space_id = $1", id)
	case domain.SubjectOrganization:
		streams = []string{streamOrg + id}
		for prefix, sql := range map[string]string{
			streamUser:         `SELECT user_id FROM users WHERE organization_id = $1`,
			streamSpace:        `SELECT space_id FROM spaces WHERE organization_id = $1`,
			streamDocument:     `SELECT document_id FROM documents WHERE organization_id = $1`,
			streamAssistant:    `SELECT assistant_id FROM assistants WHERE organization_id = $1`,
			streamConversation: `SELECT conversation_id FROM conversations WHERE organization_id = $1`,
		} {
			if err = add(prefix, sql); err != nil {
				return err
			}
		}
		if err = deleteSpace(ctx, tx, "organization_id = $1", id); err != nil {
			return err
		}
		for _, sql := range []string{
			`DELETE FROM users WHERE organization_id = $1`,
			`DELETE FROM organizations WHERE organization_id = $1`,
		} {
			if _, err = tx.Exec(ctx, sql, id); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if err != nil {
		return err
	}
	return p.er.request(ctx, tx, ev, r, streams)
}
