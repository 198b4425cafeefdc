package platform

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
)

func newID() string { return uuid.NewString() }

// answerer is the retrieval-only assistant used until a model pipeline is wired: it
// searches the conversation's space for the question and replies with the best excerpts,
// cited by number, so a reply never contains anything from outside the space.
type answerer struct {
	reads *reads
	max   int
}

func newAnswerer(r *reads) *answerer { return &answerer{reads: r, max: 3} }

// NoExcerpts is the reply when nothing in the space matches the question.
const NoExcerpts = "I found nothing in this space's documents about that."

// Answer implements graphql.Answerer.
func (a *answerer) Answer(ctx context.Context, q graphql.Question) (graphql.Answer, error) {
	hits, err := a.reads.search(ctx, q.SpaceID, q.Text, a.max)
	if err != nil {
		return graphql.Answer{}, err
	}
	if len(hits) == 0 {
		return graphql.Answer{Text: NoExcerpts, Excerpts: []domain.ExcerptRef{}}, nil
	}
	var b strings.Builder
	b.WriteString("From this space's documents:")
	refs := make([]domain.ExcerptRef, len(hits))
	for i, h := range hits {
		fmt.Fprintf(&b, "\n[%d] %s", i+1, strings.TrimSpace(h.Text))
		refs[i] = domain.ExcerptRef{DocumentID: h.DocumentID, ChunkIndex: h.ChunkIndex, Score: h.Score}
	}
	text := b.String()
	if len(text) > domain.MaxMessageBytes {
		text = text[:domain.MaxMessageBytes]
		for !utf8ValidPrefix(text) {
			text = text[:len(text)-1]
		}
	}
	return graphql.Answer{Text: text, Excerpts: refs}, nil
}

func utf8ValidPrefix(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
