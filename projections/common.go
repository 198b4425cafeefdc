// Package readmodel holds Arkiv's concrete projections: the relational read models that
// readmodels/ queries ("readmodel"), the authentication tables infra/auth reads
// ("readmodel.auth"), the audit and access-denied logs ("audit") and the Weaviate search index
// ("search.index"). All builds the full list from its dependencies.
//
// Sealed fields are never decrypted into Postgres: a row keeps the ciphertext envelope copied
// from the event together with the event id and field path that bind it (SealedRef), and
// readmodels decrypts at query time. Only the search index holds derived plaintext, in
// Weaviate.
//
// Erasure: when an erasure.requested.v1 event arrives every projection removes what it
// derived from the subject and remembers the streams it derived it from; on
// erasure.restored.v1 it re-reads those streams from the event store (StreamReader) and
// re-applies their events, in log order, up to the restore; erasure.completed.v1 makes the
// removal final. A full rebuild replays the same sequence, and after key destruction the
// search index cannot decrypt the text any more, so nothing comes back.
package projections

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SealedRef is a sealed field as a read model stores it (as jsonb): the ciphertext envelope
// copied from the event's payload, and the event id and field path that, with the subjects
// inside the envelope, bind it. Opener.OpenField decrypts it.
type SealedRef struct {
	EventID  string `json:"eventId"`
	Path     string `json:"path"`
	Envelope string `json:"envelope"`
}

// ref returns the SealedRef of a field of ev, or nil for an empty envelope.
func ref(ev engine.Event, path, envelope string) *SealedRef {
	if envelope == "" {
		return nil
	}
	return &SealedRef{EventID: ev.ID.String(), Path: path, Envelope: envelope}
}

// Opener decrypts one stored sealed field; *keyring.EventCodec implements it. redacted is
// true (and plain empty) when a subject of the field has been erased.
type Opener interface {
	OpenField(ctx context.Context, eventID, path, envelope string) (plain string, redacted bool, err error)
}

// StreamReader reads one stream of the event store from its start; *eventstore.Store
// implements it. A missing stream yields no events.
type StreamReader interface {
	Load(ctx context.Context, stream string) ([]domain.Recorded, int64, error)
}

// meta is the part of domain.Metadata the projections use.
type meta struct {
	Actor        string    `json:"actor"`
	Organization string    `json:"organization"`
	Space        string    `json:"space"`
	OccurredAt   time.Time `json:"occurredAt"`
}

// metaOf decodes ev's metadata; an event without Arkiv metadata gets its creation time.
func metaOf(ev engine.Event) meta {
	var m meta
	_ = engine.DecodeJSON(ev.Metadata, &m)
	if m.OccurredAt.IsZero() {
		m.OccurredAt = ev.Created
	}
	m.OccurredAt = m.OccurredAt.UTC()
	return m
}

// decode unmarshals ev's payload into into, naming the event on failure.
func decode(ev engine.Event, into any) error {
	if err := engine.DecodeJSON(ev.Data, into); err != nil {
		return domain.Wrap(domain.KindInternal, "readmodel.decode", err, "bad payload of "+ev.Type)
	}
	return nil
}

// pos is the commit position stored in rows.
func pos(ev engine.Event) int64 { return int64(ev.Position.Commit) }

// Event type names, taken from the domain so that a typo cannot orphan a case.
var (
	evOrgCreated         = domain.OrganizationCreated{}.EventName()
	evOrgSettings        = domain.OrganizationSettingsChanged{}.EventName()
	evProviderConfigured = domain.IdentityProviderConfigured{}.EventName()
	evProviderRemoved    = domain.IdentityProviderRemoved{}.EventName()
	evUserRegistered     = domain.UserRegistered{}.EventName()
	evUserRole           = domain.UserRoleChanged{}.EventName()
	evUserDeactivated    = domain.UserDeactivated{}.EventName()
	evSpaceCreated       = domain.SpaceCreated{}.EventName()
	evMemberAdded        = domain.SpaceMemberAdded{}.EventName()
	evMemberRemoved      = domain.SpaceMemberRemoved{}.EventName()
	evMemberRole         = domain.SpaceMemberRoleChanged{}.EventName()
	evModelsEnabled      = domain.SpaceModelsEnabled{}.EventName()
	evSpaceDeleted       = domain.SpaceDeleted{}.EventName()
	evAssistantCreated   = domain.AssistantCreated{}.EventName()
	evAssistantUpdated   = domain.AssistantUpdated{}.EventName()
	evAssistantDeleted   = domain.AssistantDeleted{}.EventName()
	evDocIngested        = domain.DocumentIngested{}.EventName()
	evDocChunk           = domain.DocumentTextChunkAdded{}.EventName()
	evDocDeleted         = domain.DocumentDeleted{}.EventName()
	evConvStarted        = domain.ConversationStarted{}.EventName()
	evMessageSent        = domain.MessageSent{}.EventName()
	evReplyRecorded      = domain.AssistantReplyRecorded{}.EventName()
	evKeyCreated         = domain.APIKeyCreated{}.EventName()
	evKeyRevoked         = domain.APIKeyRevoked{}.EventName()
	evKeyUsed            = domain.APIKeyUsed{}.EventName()
	evErasureRequested   = domain.ErasureRequested{}.EventName()
	evErasureRestored    = domain.ErasureRestored{}.EventName()
	evErasureCompleted   = domain.ErasureCompleted{}.EventName()
	evAccessDenied       = domain.AccessDenied{}.EventName()
	evLoginFailed        = domain.LoginFailed{}.EventName()
	evDocumentViewed     = domain.DocumentViewed{}.EventName()
	evAuditLogViewed     = domain.AuditLogViewed{}.EventName()
	evAuditLogExported   = domain.AuditLogExported{}.EventName()
	evDataExported       = domain.DataExported{}.EventName()
	streamOrg            = domain.StreamPrefixOrganization
	streamUser           = domain.StreamPrefixUser
	streamSpace          = domain.StreamPrefixSpace
	streamAssistant      = domain.StreamPrefixAssistant
	streamDocument       = domain.StreamPrefixDocument
	streamConversation   = domain.StreamPrefixConversation
	streamAPIKey         = domain.StreamPrefixAPIKey
	streamAccessPrefix   = domain.StreamPrefixAccess
	streamErasurePrefix  = domain.StreamPrefixErasure
)

// wire forms of the erasure events (no sealed fields).
type erasureRequested struct {
	ErasureID      string `json:"erasureId"`
	OrganizationID string `json:"organizationId"`
	SubjectType    string `json:"subjectType"`
	SubjectID      string `json:"subjectId"`
}

type erasureRef struct {
	ErasureID string `json:"erasureId"`
}

// erasures is one projection's own table of erasure orders (each projection keeps its own, so
// that a rebuild of one sees the orders in log order, not another's final state).
type erasures struct{ table string }

// hidden reports whether any of ids is the subject of a pending or completed erasure.
func (e erasures) hidden(ctx context.Context, tx pgx.Tx, ids ...string) (bool, error) {
	var found bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+e.table+`
		WHERE subject_id = ANY($1) AND state <> 'RESTORED')`, ids).Scan(&found)
	return found, err
}

// request records an erasure order and the streams whose events derived what is removed.
func (e erasures) request(ctx context.Context, tx pgx.Tx, ev engine.Event, r erasureRequested, streams []string) error {
	streams = uniqueSorted(streams)
	_, err := tx.Exec(ctx, `INSERT INTO `+e.table+`
		(erasure_id, organization_id, subject_type, subject_id, state, streams, position)
		VALUES ($1, $2, $3, $4, 'PENDING', $5, $6)
		ON CONFLICT (erasure_id) DO UPDATE SET state = 'PENDING', streams = EXCLUDED.streams`,
		r.ErasureID, r.OrganizationID, r.SubjectType, strings.ToLower(r.SubjectID), streams, pos(ev))
	return err
}

// restore marks an order restored and returns the streams to re-read; ok is false for an
// order the projection never saw.
func (e erasures) restore(ctx context.Context, tx pgx.Tx, id string) (streams []string, ok bool, err error) {
	err = tx.QueryRow(ctx, `UPDATE `+e.table+` SET state = 'RESTORED' WHERE erasure_id = $1 AND state = 'PENDING'
		RETURNING streams`, id).Scan(&streams)
	if err == pgx.ErrNoRows {
		return nil, false, nil
	}
	return streams, err == nil, err
}

// complete marks an order completed: what it removed stays removed.
func (e erasures) complete(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `UPDATE `+e.table+` SET state = 'COMPLETED', streams = '{}' WHERE erasure_id = $1`, id)
	return err
}

func uniqueSorted(s []string) []string {
	out := make([]string, 0, len(s))
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// replay re-reads streams and applies their events that precede at, merged in log order,
// with apply.
func replay(ctx context.Context, sr StreamReader, streams []string, at engine.Position,
	apply func(ctx context.Context, ev engine.Event) error) error {
	const op = "readmodel.replay"
	if sr == nil {
		return domain.E(domain.KindInternal, op, "a stream reader is needed to restore erased subjects")
	}
	var evs []engine.Event
	for _, s := range streams {
		recs, _, err := sr.Load(ctx, s)
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "re-read stream "+s)
		}
		for _, r := range recs {
			if r.Position >= at.Commit {
				break
			}
			id, err := uuid.Parse(r.EventID)
			if err != nil {
				return domain.Wrap(domain.KindInternal, op, err, "event id is not a UUID")
			}
			evs = append(evs, engine.Event{ID: id, Type: r.Type, Stream: r.Stream, Revision: r.Revision,
				Position: engine.Position{Commit: r.Position, Prepare: r.Position},
				Created:  r.Created, ContentType: "application/json", Data: r.Data, Metadata: r.Metadata})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Position.Less(evs[j].Position) })
	for _, ev := range evs {
		if err := apply(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// queryStrings runs a query returning one text column.
func queryStrings(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
