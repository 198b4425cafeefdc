package app

import (
	"fmt"

	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/projections"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/projections/readmodel"
)

// Projections returns every projection the platform runs: the read models, the auth
// tables, the audit log, the search index and the ledger's Merkle tree.
func Projections(store *eventstore.Store, codec *keyring.EventCodec, ix *search.Index, emb embedding.Provider) ([]projections.Projection, error) {
	all, err := readmodel.All(readmodel.Deps{Streams: store, Opener: codec, Index: ix, Embedder: emb})
	return append(all, ledgerproj.NewProjection()), err
}

// queryProjections are the projections a query with consistentAt waits for.
func queryProjections() []string { return append(readmodel.QueryNames(), readmodel.NameSearch) }

func fmtType(err error) string { return fmt.Sprintf("%T", err) }
