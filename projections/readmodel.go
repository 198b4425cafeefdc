package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameReadModel is the name (checkpoint key) of the relational read-model projection.
const NameReadModel = "readmodel"

// ReadModel projects organisations, users, spaces and their members, assistants, documents
// (metadata and text envelopes), conversations and messages into the tables readmodels/
// queries, one file per table group (directory.go, spaces.go, documents.go,
// conversations.go). It is idempotent: every write is an upsert or a delete keyed by ids.
type ReadModel struct {
	er erasures
}

// NewReadModel returns the projection; streams re-reads erased subjects' streams on restore.
func NewReadModel(streams StreamReader) *ReadModel {
	p := &ReadModel{}
	p.er = erasures{table: "readmodel_erasures", streams: streams, erase: p.erase,
		apply: func(ctx context.Context, tx pgx.Tx, ev engine.Event, _ time.Time) error { return p.apply(ctx, tx, ev) }}
	return p
}

// Name implements engine.Projection.
func (*ReadModel) Name() string { return NameReadModel }

// Tables implements engine.Projection.
func (*ReadModel) Tables() []string {
	return []string{"organizations", "users", "spaces", "space_members", "assistants", "documents",
		"document_chunks", "conversations", "messages", "readmodel_erasures"}
}

// Apply implements engine.Projection.
func (p *ReadModel) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	return p.er.Apply(ctx, tx, ev)
}

// apply projects one event of an aggregate stream into its table group. Rows of subjects
// under erasure are not written: a child row needs its parent row (gone while the parent is
// erased), top-level rows check the erasure table.
func (p *ReadModel) apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	at := metaOf(ev).OccurredAt
	switch ev.Type {
	case evOrgCreated, evOrgSettings, evUserRegistered, evUserRole, evUserDeactivated:
		return p.applyDirectory(ctx, tx, ev, at)
	case evSpaceCreated, evMemberAdded, evMemberRemoved, evMemberRole, evModelsEnabled, evSpaceDeleted,
		evAssistantCreated, evAssistantUpdated, evAssistantDeleted:
		return p.applySpaces(ctx, tx, ev, at)
	case evDocIngested, evDocChunk, evDocDeleted:
		return p.applyDocuments(ctx, tx, ev, at)
	case evConvStarted, evMessageSent, evReplyRecorded:
		return p.applyConversations(ctx, tx, ev, at)
	}
	return nil
}

// erase removes what the projection derived from the subject of an erasure order and
// returns the streams to re-read on restore.
func (p *ReadModel) erase(ctx context.Context, tx pgx.Tx, r erasureRequested) ([]string, bool, error) {
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
	case domain.SubjectAssistant:
		streams = []string{streamAssistant + id}
		_, err = tx.Exec(ctx, `DELETE FROM assistants WHERE assistant_id = $1`, id)
	case domain.SubjectUser:
		streams = []string{streamUser + id}
		if err = add(streamSpace, `SELECT space_id FROM space_members WHERE user_id = $1`); err != nil {
			return nil, false, err
		}
		if err = add(streamConversation, `SELECT conversation_id FROM conversations WHERE started_by = $1
			UNION SELECT conversation_id FROM messages WHERE author_id = $1`); err != nil {
			return nil, false, err
		}
		for _, sql := range []string{
			`UPDATE users SET email = NULL, name = NULL, erased = true WHERE user_id = $1`,
			`DELETE FROM space_members WHERE user_id = $1`,
			`DELETE FROM messages WHERE author_id = $1`,
		} {
			if _, err = tx.Exec(ctx, sql, id); err != nil {
				return nil, false, err
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
				return nil, false, err
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
				return nil, false, err
			}
		}
		if err = deleteSpace(ctx, tx, "organization_id = $1", id); err != nil {
			return nil, false, err
		}
		for _, sql := range []string{
			`DELETE FROM users WHERE organization_id = $1`,
			`DELETE FROM organizations WHERE organization_id = $1`,
		} {
			if _, err = tx.Exec(ctx, sql, id); err != nil {
				return nil, false, err
			}
		}
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return streams, true, nil
}
