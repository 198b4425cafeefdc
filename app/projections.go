package app

import (
	"fmt"
	"github.com/arkiv/arkiv/infra/auth"

	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// Projections returns every projection the platform runs: the read models, the auth
// tables, the audit log, the search index and the ledger's Merkle tree.
func Projections(store *eventstore.Store, codec *keyring.EventCodec, ix *search.Index, emb embedding.Provider) ([]engine.Projection, error) {
	all, err := projections.All(projections.Deps{Streams: store, Auth: auth.Tables{}, Opener: codec, Index: ix, Embedder: emb,
		Chunker: search.Chunker{}})
	return append(all, ledgerproj.NewProjection()), err
}

// queryProjections are the projections a query with consistentAt waits for.
func queryProjections() []string { return append(projections.QueryNames(), projections.NameSearch) }

func fmtType(err error) string { return fmt.Sprintf("%T", err) }
