// Package retrieval implements commands.Retriever over the search index and an embedding
// provider: it embeds the question, runs a hybrid search in the space's Weaviate tenant and
// tells, for each document hit, how many chunks it has in all.
package retrieval

import (
	"context"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/search"
)

// Retriever finds candidate excerpts.
type Retriever struct {
	ix    *search.Index
	emb   embedding.Provider
	alpha *float32
}

// spaceEmbedder is an embedder under the model policy (app's policy embedder): it checks
// and records each call for the space the text comes from.
type spaceEmbedder interface {
	EmbedFor(ctx context.Context, spaceID, documentID, purpose string, texts []string) ([][]float32, error)
}

// New returns a retriever over ix with question vectors from emb (the provider the index
// was built with).
func New(ix *search.Index, emb embedding.Provider) *Retriever { return &Retriever{ix: ix, emb: emb} }

// Retrieve implements commands.Retriever: at most limit candidates, best first.
func (r *Retriever) Retrieve(ctx context.Context, spaceID, query string, limit int) ([]domain.Candidate, error) {
	var vecs [][]float32
	var err error
	if se, ok := r.emb.(spaceEmbedder); ok {
		vecs, err = se.EmbedFor(ctx, spaceID, "", domain.EmbeddingForQuery, []string{query})
	} else {
		vecs, err = r.emb.Embed(ctx, []string{query})
	}
	if err != nil {
		return nil, err
	}
	if len(vecs) != 1 {
		return nil, domain.E(domain.KindInternal, "retrieval.Retrieve", "the embedding provider returned no vector")
	}
	hits, err := r.ix.Search(ctx, spaceID, query, vecs[0], search.SearchOptions{Limit: limit, Alpha: r.alpha})
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	var docs []string
	seen := map[string]bool{}
	for _, h := range hits {
		if !seen[h.DocumentID] {
			seen[h.DocumentID] = true
			docs = append(docs, h.DocumentID)
		}
	}
	counts, err := r.ix.ChunkCounts(ctx, spaceID, docs)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Candidate, len(hits))
	for i, h := range hits {
		out[i] = domain.Candidate{DocumentID: h.DocumentID, ChunkID: h.ChunkID, ChunkIndex: h.ChunkIndex,
			Text: h.Text, Score: h.Score, DocumentChunks: counts[h.DocumentID]}
	}
	return out, nil
}
