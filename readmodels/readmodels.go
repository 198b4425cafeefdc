// Package readmodels is Arkiv's query side: typed queries over the tables the projections
// build, returning the rows the API serves as they are (gqlgen.yml binds the GraphQL types
// to these structs). It imports no adapter: what it needs of one — decrypting a field, the
// search index, an embedder — it declares as a small interface that the composition root
// (app) satisfies from infra.
//
// Every query is scoped to one organisation: it takes the caller's organisation id and never
// returns a row of another organisation (a missing or foreign object is nil with a nil
// error, a list is empty). Space-scoped content (assistants, documents, conversations,
// search) is returned for a space of the organisation; whether the caller may see it is the
// caller's membership, which SpaceRole answers and the API checks before calling. Rules
// about who sees what beyond that live here too (APIKeysVisibleTo).
//
// Sealed fields are stored as the ciphertext copied from the events and decrypted here, at
// query time, through an Opener (infra/keyring's codec). A field whose subject is erased
// comes back nil; an object whose subject is erased has no row any more and is not returned.
//
// Lists are Relay-style: Page{First, After} in, Connection{Edges, PageInfo} out, with opaque
// cursors.
package readmodels

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Opener decrypts one stored sealed field given the event id and field path that bind it;
// *keyring.EventCodec implements it. redacted is true when a subject of the field is erased.
type Opener interface {
	OpenField(ctx context.Context, eventID, path, envelope string) (plain string, redacted bool, err error)
}

// Reader runs the queries. It is safe for concurrent use.
type Reader struct {
	pool   *pgxpool.Pool
	opener Opener
	search *searcher
}

// Option configures a Reader.
type Option func(*Reader)

// New returns a Reader over the read-model database; opener decrypts sealed fields.
func New(pool *pgxpool.Pool, opener Opener, opts ...Option) *Reader {
	r := &Reader{pool: pool, opener: opener}
	for _, o := range opts {
		o(r)
	}
	return r
}

// sealedRef is a stored sealed field (projections.SealedRef).
type sealedRef struct {
	EventID  string `json:"eventId"`
	Path     string `json:"path"`
	Envelope string `json:"envelope"`
}

// open decrypts a stored field: nil when there is none or it is erased.
func (r *Reader) open(ctx context.Context, ref *sealedRef) (*string, error) {
	if ref == nil || ref.Envelope == "" {
		return nil, nil
	}
	plain, redacted, err := r.opener.OpenField(ctx, ref.EventID, ref.Path, ref.Envelope)
	if domain.Is(domain.KindErased, err) || (err == nil && redacted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &plain, nil
}

// Page is a connection's paging arguments: at most First items after the cursor After ("":
// from the start).
type Page struct {
	First int
	After string
}

// MaxFirst is the largest page size; First <= 0 means DefaultFirst.
const (
	MaxFirst     = 100
	DefaultFirst = 50
)

func (p Page) limit() (int, error) {
	switch {
	case p.First == 0:
		return DefaultFirst, nil
	case p.First < 0 || p.First > MaxFirst:
		return 0, domain.Errorf(domain.KindInvalid, "readmodels.page", "first must be 1 to %d", MaxFirst)
	}
	return p.First, nil
}

// checkLimit refuses a limit outside 1 to MaxFirst.
func checkLimit(op string, limit int) error {
	if limit <= 0 || limit > MaxFirst {
		return domain.Errorf(domain.KindInvalid, op, "limit must be 1 to %d", MaxFirst)
	}
	return nil
}

// PageInfo tells whether more items follow and where the page ended.
type PageInfo struct {
	HasNextPage bool
	// EndCursor is the cursor of the last edge, "" for an empty page.
	EndCursor string
	// HasPreviousPage is false: connections page forward only, as Relay allows.
	HasPreviousPage bool
	// StartCursor is the cursor of the first edge, "" for an empty page.
	StartCursor string
}

// Node is any object the API can fetch by its global id (GraphQL's Node interface): a
// read model's row.
type Node interface{}

// Edge is one item of a connection with its cursor.
type Edge[T any] struct {
	Cursor string
	Node   T
}

// Connection is one page of a list.
type Connection[T any] struct {
	Edges    []Edge[T]
	PageInfo PageInfo
}

// connection builds a page from up to limit+1 items.
func connection[T any](items []T, limit int, cursor func(T) string) Connection[T] {
	c := Connection[T]{Edges: []Edge[T]{}}
	if len(items) > limit {
		items = items[:limit]
		c.PageInfo.HasNextPage = true
	}
	for _, it := range items {
		c.Edges = append(c.Edges, Edge[T]{Cursor: cursor(it), Node: it})
	}
	if n := len(c.Edges); n > 0 {
		c.PageInfo.StartCursor, c.PageInfo.EndCursor = c.Edges[0].Cursor, c.Edges[n-1].Cursor
	}
	return c
}

// EncodeCursor returns the opaque cursor of a list's item: kind names the list, key the item
// (never anything personal or erasable).
func EncodeCursor(kind, key string) string { return encodeCursor(kind, key) }

// DecodeCursor returns the key of a cursor of the list kind; KindInvalid for any other.
func DecodeCursor(kind, cursor string) (string, error) { return decodeCursor(kind, cursor) }

// Cursors are base64url of "<kind>:<key>", so a cursor of one list is refused by another.
func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeCursor(kind, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	key, ok := strings.CutPrefix(string(b), kind+":")
	if err != nil || !ok {
		return "", domain.E(domain.KindInvalid, "readmodels.cursor", "after is not a cursor of this list")
	}
	return key, nil
}

// positionCursor decodes a cursor holding a log position; -1 when empty.
func positionCursor(kind, cursor string) (int64, error) {
	key, err := decodeCursor(kind, cursor)
	if err != nil || key == "" {
		return -1, err
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return 0, domain.E(domain.KindInvalid, "readmodels.cursor", "after is not a cursor of this list")
	}
	return n, nil
}

// pgErr classifies a query error.
func pgErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return domain.Wrap(domain.KindUnavailable, op, err, "query cancelled")
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	// Class 22 (data exception: a NUL or invalid UTF-8 in a text argument, a date out of
	// range) is a value the caller sent, not an outage to retry.
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		return domain.Wrap(domain.KindInvalid, op, err, "the request holds a value the read models cannot take")
	}
	return domain.Wrap(domain.KindUnavailable, op, err, "read-model query failed")
}

// one runs a query for one row; no row is (false, nil).
func one(ctx context.Context, pool *pgxpool.Pool, op, sql string, args []any, dest ...any) (bool, error) {
	err := pool.QueryRow(ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, pgErr(op, err)
}

// The connections and edges the API serves, by name (gqlgen binds the schema's
// connection types to them).
type (
	// SpaceConnection is a page of spaces with the caller's role.
	SpaceConnection = Connection[MemberSpace]
	// AccessConnection is a page of accesses.
	AccessConnection = Connection[Access]
	// AccessEdge is an access in a connection.
	AccessEdge = Edge[Access]
	// SpaceEdge is a space in a SpaceConnection.
	SpaceEdge = Edge[MemberSpace]
	// AssistantConnection is a page of assistants.
	AssistantConnection = Connection[Assistant]
	// AssistantEdge is an assistant in an AssistantConnection.
	AssistantEdge = Edge[Assistant]
	// DocumentConnection is a page of documents.
	DocumentConnection = Connection[Document]
	// DocumentEdge is a document in a DocumentConnection.
	DocumentEdge = Edge[Document]
	// MessageConnection is a page of messages.
	MessageConnection = Connection[Message]
	// MessageEdge is a message in a MessageConnection.
	MessageEdge = Edge[Message]
	// AuditConnection is a page of audit entries.
	AuditConnection = Connection[AuditEntry]
	// AuditEdge is an audit entry in an AuditConnection.
	AuditEdge = Edge[AuditEntry]
	// APIKeyConnection is a page of API keys.
	APIKeyConnection = Connection[APIKey]
	// APIKeyEdge is an API key in an APIKeyConnection.
	APIKeyEdge = Edge[APIKey]
	// ModelInvocationConnection is a page of model invocations.
	ModelInvocationConnection = Connection[ModelInvocation]
	// ModelInvocationEdge is a model invocation in a ModelInvocationConnection.
	ModelInvocationEdge = Edge[ModelInvocation]
)
