package domain

import (
	"strings"
	"time"
)

// CheckEmbeddingUse decides whether the external embedding model id may embed text of a
// space classified class under the organisation's settings s, by the rules of a chat model
// (CheckModelUse) except that a space need not enable it: the model must be on the
// allow-list, hosted in the EU (or on premises) in an EU-only organisation, in a known
// region, and cleared for the space's classification. On top, a model hosted outside the EU
// never embeds text of the organisation's most sensitive level (RESTRICTED by default),
// whatever its allow-list entry says: a Restricted space's chunks never reach a US-hosted
// embedder. It returns the allow-list entry, or a KindForbidden error safe to show.
func CheckEmbeddingUse(s OrganizationSettings, class Classification, id ModelID) (AllowedModel, error) {
	const op = "embedding.check_use"
	m, ok := s.Model(id)
	if !ok {
		return AllowedModel{}, Errorf(KindForbidden, op, "embedding model %s is not on the organisation's allow-list", id)
	}
	if s.EUOnly && !m.Region.InEU() {
		return AllowedModel{}, Errorf(KindForbidden, op, "the organisation is EU-only and embedding model %s is hosted in %s", id, m.Region)
	}
	if !m.Region.Valid() {
		return AllowedModel{}, Errorf(KindForbidden, op, "embedding model %s has no known hosting region", id)
	}
	rank := s.Rank(class)
	if rank < 0 {
		return AllowedModel{}, E(KindForbidden, op, "the space's classification is not one of the organisation's levels")
	}
	if s.Rank(m.MaxClassification) < rank {
		return AllowedModel{}, Errorf(KindForbidden, op, "embedding model %s may not see data classified %s", id, class)
	}
	if !m.Region.InEU() && (rank == len(s.ClassificationLevels)-1 || class == ClassRestricted) {
		return AllowedModel{}, Errorf(KindForbidden, op, "embedding model %s is hosted in %s and never sees data classified %s", id, m.Region, class)
	}
	return m, nil
}

// The purposes of an embedding call.
const (
	// EmbeddingForIndex embeds a document's chunks for the search index.
	EmbeddingForIndex = "index"
	// EmbeddingForQuery embeds a question or a search for retrieval.
	EmbeddingForQuery = "query"
)

// EmbeddingRecorded is recorded in the access log for every call to an external embedding
// model, and for every call the model policy refused: which model, where hosted, for which
// space and document, how many texts and characters, and the SHA-256 of the texts — never
// the texts themselves.
type EmbeddingRecorded struct {
	SpaceID    string    `json:"spaceId"`
	DocumentID string    `json:"documentId,omitempty"`
	Purpose    string    `json:"purpose"`
	Model      ModelID   `json:"model"`
	Region     Region    `json:"region,omitempty"`
	Texts      int       `json:"texts"`
	Chars      int       `json:"chars"`
	TextSHA256 string    `json:"textSha256"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	CalledAt   time.Time `json:"calledAt"`
}

// EventName implements Event.
func (EmbeddingRecorded) EventName() string { return "model.embedding_recorded.v1" }

// ValidEmbeddingPurpose reports whether p is EmbeddingForIndex or EmbeddingForQuery.
func ValidEmbeddingPurpose(p string) bool {
	p = strings.ToLower(p)
	return p == EmbeddingForIndex || p == EmbeddingForQuery
}
