package commands

import (
	"context"
	"crypto/rand"
	"io"

	"github.com/arkiv/arkiv/domain"
)

// EventStore is what commands need of the event store. Errors carry domain kinds: a wrong
// expected revision is KindConflict, an unreachable store KindUnavailable.
type EventStore interface {
	// Load reads a whole stream from its start. A stream that does not exist yields no
	// events and revision domain.NoStream (-1); otherwise revision is the last event's.
	Load(ctx context.Context, stream string) ([]domain.Recorded, int64, error)
	// Last reads the last event of a stream; found is false when the stream does not exist.
	Last(ctx context.Context, stream string) (rec domain.Recorded, found bool, err error)
	// Append appends events atomically if the stream's revision is expected
	// (domain.NoStream: it must not exist) and returns the commit position of the last one.
	Append(ctx context.Context, stream string, expected int64, events []domain.Proposed) (position uint64, err error)
}

// Codec encodes event payloads for the store, sealing domain.Sealed fields, and decodes
// them back (infra/keyring).
type Codec interface {
	Encode(ctx context.Context, eventID string, payload any) ([]byte, error)
	Decode(ctx context.Context, eventID string, data []byte, into any) error
}

// IDs makes new random ids (lower-case UUIDs).
type IDs interface {
	NewID() string
}

// Deps are the dependencies every handler shares.
type Deps struct {
	Store EventStore
	Codec Codec
	// Clock tells business time: every time an event records comes from it.
	Clock  domain.Clock
	IDs    IDs
	Events *domain.Registry
	// Random is the source of API key secrets; nil means crypto/rand.Reader.
	Random io.Reader
	// Retriever and Models serve Ask: retrieval in a space's index and the organisations'
	// allow-listed models. Both nil leaves assistants off (Ask is KindUnavailable), as in
	// the CLI and in process-manager workers; one without the other is refused.
	Retriever Retriever
	Models    ModelRouter
	// Accounts serves SetPassword; nil leaves it unavailable.
	Accounts Accounts
	// Proofs verifies the tokens Admins present as proof that they control an identity
	// provider they configure; nil leaves ConfigureIdentityProvider unavailable.
	Proofs IdentityProofs
}

// IdentityProof is what a verified proof-of-control token says: the issuer vouches for
// Subject (and for Email when it verified it) for the audience; TenantID and TokenIssuer
// are set for a multi-tenant issuer (Entra "common" or "organizations"): the token's "tid"
// claim and its "iss", which every token accepted for the provider must carry.
type IdentityProof struct {
	Subject     string
	Email       string
	TenantID    string
	TokenIssuer string
}

// IdentityProofs verifies a token issued by issuer for audience against the issuer's JWKS
// (signature, iss, aud, expiry). A token that does not verify is KindForbidden; an issuer
// that cannot be reached KindUnavailable.
type IdentityProofs interface {
	VerifyIdentityProof(ctx context.Context, issuer, audience, token string) (IdentityProof, error)
}

func (d Deps) check() (Deps, error) {
	const op = "commands.new"
	switch {
	case d.Store == nil:
		return d, domain.E(domain.KindInternal, op, "nil event store")
	case d.Codec == nil:
		return d, domain.E(domain.KindInternal, op, "nil codec")
	case d.Clock == nil:
		return d, domain.E(domain.KindInternal, op, "nil clock")
	case d.IDs == nil:
		return d, domain.E(domain.KindInternal, op, "nil id source")
	case d.Events == nil:
		return d, domain.E(domain.KindInternal, op, "nil event registry")
	case (d.Retriever == nil) != (d.Models == nil):
		return d, domain.E(domain.KindInternal, op, "a retriever without a model router, or the reverse")
	}
	if d.Random == nil {
		d.Random = rand.Reader
	}
	return d, nil
}

// Meta is what every command carries besides its own fields.
type Meta struct {
	// CommandID identifies the command (1 to 128 characters); event ids derive from it, so
	// a retried command appends nothing twice.
	CommandID string
	// ActorID is the id of the user running the command (from authentication).
	ActorID string
	// CorrelationID ties together everything caused by one request; defaults to CommandID.
	CorrelationID string
	// CausationID is what caused the command; defaults to CommandID.
	CausationID string
	// Reason, when set, is recorded in every event's metadata: why the actor acted (for
	// the directory's changes, the identity provider).
	Reason string
}

// CommandMeta returns m; commands embed Meta, so it reaches every command.
func (m Meta) CommandMeta() Meta { return m }

// Result is what a command returns: the id of the aggregate it created or changed, and the
// commit position of its last event, for read-your-writes against the projections.
type Result struct {
	ID       string
	Position uint64
}

var (
	errNilLogger    = domain.E(domain.KindInternal, "commands.new", "nil logger")
	errNoAssistants = domain.E(domain.KindUnavailable, "Ask", "assistants are not available on this server")
)
