package projections

import (
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
)

// Deps are what the projections need.
type Deps struct {
	// Streams re-reads the streams of a restored erasure subject (*eventstore.Store).
	// Required.
	Streams StreamReader
	// Auth writes the rows of infra/auth's tables that infra/auth encodes (auth.Tables{}).
	// Required.
	Auth AuthTables
	// Opener decrypts document text for the search index (*keyring.EventCodec).
	Opener Opener
	// Index and Embedder, when both set (with Opener), enable the search-index projection.
	Index    Index
	Embedder Embedder
	// Chunker splits documents for the index (search.Chunker); required with Index.
	Chunker Chunker
}

// All returns every projection Arkiv runs, in rebuild order: the relational read models
// ("readmodel"), infra/auth's tables ("readmodel.auth"), the audit log ("audit"), the model
// invocations ("readmodel.model_invocations"), the erasure orders and legal holds
// ("readmodel.erasures") and, when Deps has an index, an embedder and
// an opener, the search index ("search.index").
func All(d Deps) ([]engine.Projection, error) {
	if d.Streams == nil || d.Auth == nil {
		return nil, domain.E(domain.KindInternal, "projections.All", "a stream reader and the auth tables are required")
	}
	out := []engine.Projection{NewReadModel(d.Streams), NewAuth(d.Streams, d.Auth), NewAudit(), NewModelInvocations(), NewErasureItems()}
	if d.Index != nil && d.Embedder != nil && d.Opener != nil {
		if d.Chunker == nil {
			return nil, domain.E(domain.KindInternal, "projections.All", "the search index needs a chunker")
		}
		out = append(out, NewSearchIndex(d.Index, d.Embedder, d.Opener, d.Streams, d.Chunker))
	}
	return out, nil
}

// QueryNames returns the projections the readmodels queries read, for
// engine.Waiter.WaitFor: a query with consistentAt waits for these.
func QueryNames() []string {
	return []string{NameReadModel, NameAuth, NameAudit, NameModelInvocations, NameErasureItems}
}
