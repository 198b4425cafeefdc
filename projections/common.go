// Package projections holds Arkiv's projections: the relational read models that
// readmodels/ queries ("readmodel", one file per table group), the authentication tables
// infra/auth reads ("readmodel.auth"), the audit and access-denied logs ("audit"), the model
// invocations ("readmodel.model_invocations") and the Weaviate search index ("search.index"). All
// builds the full list from its dependencies, which infra implements (AuthTables, Index,
// Chunker, Opener, StreamReader). projections/engine runs them; projections/processmanagers
// holds the erasure and retention process managers.
//
// Sealed fields are never decrypted into Postgres: a row keeps the ciphertext envelope copied
// from the event together with the event id and field path that bind it (SealedRef), and
// readmodels decrypts at query time. Only the search index holds derived plaintext, in
// Weaviate.
//
// Erasure (erasures.go, one lifecycle for every projection): when an erasure.requested.v1
// event arrives every projection removes what it derived from the subject and remembers the
// streams it derived it from; on erasure.restored.v1 it re-reads those streams from the event
// store (StreamReader) and re-applies their events, in log order, up to the restore;
// erasure.completed.v1 makes the removal final. A full rebuild replays the same sequence, and
// after key destruction the search index cannot decrypt the text any more, so nothing comes
// back.
package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
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
	// AuditSubject and AuditDetail are the audit entry's affected subject and the envelope
	// of its sealed detail (domain.Metadata).
	AuditSubject string `json:"auditSubject"`
	AuditDetail  string `json:"auditDetail"`
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
		return domain.Wrap(domain.KindInternal, "projections.decode", err, "bad payload of "+ev.Type)
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
	evIntegrityViewed    = domain.AuditIntegrityViewed{}.EventName()
	evAuditLogExported   = domain.AuditLogExported{}.EventName()
	evDataExported       = domain.DataExported{}.EventName()
	evSearchPerformed    = domain.SearchPerformed{}.EventName()
	evAccessQueried      = domain.AccessQueried{}.EventName()
	evAuditSubscribed    = domain.AuditSubscribed{}.EventName()
	evLoggedOut          = domain.LoggedOut{}.EventName()
	streamOrg            = domain.StreamPrefixOrganization
	streamUser           = domain.StreamPrefixUser
	streamSpace          = domain.StreamPrefixSpace
	streamAssistant      = domain.StreamPrefixAssistant
	streamDocument       = domain.StreamPrefixDocument
	streamConversation   = domain.StreamPrefixConversation
	streamAPIKey         = domain.StreamPrefixAPIKey
	streamAccessPrefix   = domain.StreamPrefixAccess
	streamErasurePrefix  = domain.StreamPrefixErasure
	streamLegalHolds     = domain.StreamPrefixLegalHolds
)

// queryStrings runs a query returning one text column.
func queryStrings(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
