package search_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/weaviatetest"
)

func TestChunkerOverlapsAndNeverSplitsARune(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "ord%d Åsa-förvaltningen 東京都 ", i)
	}
	b.WriteString(strings.Repeat("ü", 250)) // one word longer than a chunk
	text := b.String()
	c := search.Chunker{Size: 120, Overlap: 30}
	chunks := c.Split(text)
	if len(chunks) < 10 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for i, ch := range chunks {
		if !utf8.ValidString(ch) {
			t.Fatalf("chunk %d is not valid UTF-8", i)
		}
		if n := utf8.RuneCountInString(ch); n > 120 || n == 0 {
			t.Fatalf("chunk %d has %d runes", i, n)
		}
		if !strings.Contains(text, ch) {
			t.Fatalf("chunk %d is not a substring of the text", i)
		}
		if i > 0 && !strings.HasPrefix(ch, "ü") {
			// Consecutive chunks of words share a tail/head (pieces of a word cut to size
			// cannot).
			first := strings.Fields(ch)[0]
			if !strings.Contains(chunks[i-1], first) {
				t.Fatalf("chunk %d does not overlap chunk %d", i, i-1)
			}
		}
	}
	// Every word of the text is in some chunk.
	all := strings.Join(chunks, " ")
	for _, w := range strings.Fields(text) {
		if !strings.Contains(all, w) && utf8.RuneCountInString(w) <= 120 {
			t.Fatalf("word %q lost", w)
		}
	}
	if got := (search.Chunker{}).Split("  \n\t "); len(got) != 0 {
		t.Fatalf("blank text gave %d chunks", len(got))
	}
	if got := (search.Chunker{Size: 50}).Split("kort text"); len(got) != 1 || got[0] != "kort text" {
		t.Fatalf("short text gave %q", got)
	}
}

type doc struct{ id, text string }

func index(t *testing.T, ix *search.Index, emb embedding.Provider, space string, docs ...doc) {
	t.Helper()
	ctx := context.Background()
	ch := search.Chunker{Size: 200, Overlap: 40}
	for _, d := range docs {
		parts := ch.Split(d.text)
		vecs, err := emb.Embed(ctx, parts)
		if err != nil {
			t.Fatal(err)
		}
		chunks := make([]search.Chunk, len(parts))
		for i := range parts {
			chunks[i] = search.Chunk{DocumentID: d.id, Index: i, Text: parts[i], Vector: vecs[i]}
		}
		if err := ix.ReplaceDocument(ctx, space, d.id, chunks); err != nil {
			t.Fatal(err)
		}
	}
}

func query(t *testing.T, ix *search.Index, emb embedding.Provider, space, q string) []search.Hit {
	t.Helper()
	v, err := emb.Embed(context.Background(), []string{q})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := ix.Search(context.Background(), space, q, v[0], search.SearchOptions{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// grpcAddr returns the Weaviate gRPC address the dev stack exports, skipping the test
// without one (an external Weaviate given by URL only).
func grpcAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("ARKIV_WEAVIATE_GRPC")
	if addr == "" {
		t.Skip("ARKIV_WEAVIATE_GRPC is not set: the gRPC search path needs the dev stack's Weaviate (make test)")
	}
	return addr
}

func TestHybridSearchIsScopedToOneTenant(t *testing.T) {
	t.Parallel()
	testScopedToOneTenant(t, "")
}

func TestHybridSearchOverGRPCIsScopedToOneTenant(t *testing.T) {
	t.Parallel()
	testScopedToOneTenant(t, grpcAddr(t))
}

// TestGRPCAndGraphQLSearchAgree: both transports return the same hits, in the same order,
// with the same fields and scores.
func TestGRPCAndGraphQLSearchAgree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	class := weaviatetest.ClassName(t, "Chunk")
	gq, err := search.New(ctx, search.Config{URL: weaviatetest.URL(t), Class: class})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := search.New(ctx, search.Config{URL: weaviatetest.URL(t), GRPCAddr: grpcAddr(t), Class: class})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	emb := embedding.NewHashing(0)
	space := weaviatetest.TenantName(t)
	index(t, gr, emb, space,
		doc{"d-retention", "The retention policy keeps chat messages for ninety days, then they are erased."},
		doc{"d-budget", "The municipal budget for 2025 allocates funds to schools and libraries."},
		doc{"d-erasure", "Erasure destroys the keys of a subject; the log keeps its ciphertext."},
		doc{"d-models", "Assistants may only use the models the space enabled, in the regions it allows."})
	for _, q := range []string{"retention policy", "budget for schools", "keys of a subject", "models regions", "nothing matches zyx"} {
		a, b := query(t, gq, emb, space, q), query(t, gr, emb, space, q)
		if len(a) != len(b) {
			t.Fatalf("%q: GraphQL %d hits, gRPC %d", q, len(a), len(b))
		}
		for i := range a {
			x, y := a[i], b[i]
			if x.DocumentID != y.DocumentID || x.ChunkID != y.ChunkID || x.ChunkIndex != y.ChunkIndex || x.Text != y.Text ||
				math.Abs(x.Score-y.Score) > 1e-6 {
				t.Fatalf("%q hit %d: GraphQL %+v, gRPC %+v", q, i, x, y)
			}
		}
	}
}

func testScopedToOneTenant(t *testing.T, grpcAddr string) {
	ctx := context.Background()
	ix, err := search.New(ctx, search.Config{URL: weaviatetest.URL(t), GRPCAddr: grpcAddr, Class: weaviatetest.ClassName(t, "Chunk")})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	// A second handle on the same collection finds it instead of failing.
	if _, err := search.New(ctx, search.Config{URL: weaviatetest.URL(t), Class: ix.Class()}); err != nil {
		t.Fatal(err)
	}
	emb := embedding.NewHashing(0)
	a, b := weaviatetest.TenantName(t), weaviatetest.TenantName(t)
	index(t, ix, emb, a,
		doc{"a-retention", "The retention policy keeps chat messages for ninety days, then they are erased."},
		doc{"a-budget", "The municipal budget for 2025 allocates funds to schools and libraries."})
	index(t, ix, emb, b,
		doc{"b-retention", "Retention policy: messages in this space are retained for thirty days."},
		doc{"b-secret", "Space B's confidential merger plan with the neighbouring municipality."})

	hits := query(t, ix, emb, a, "retention policy for messages")
	if len(hits) == 0 || hits[0].DocumentID != "a-retention" {
		t.Fatalf("space A search: %+v", hits)
	}
	for _, q := range []string{"retention policy for messages", "confidential merger plan", "thirty days"} {
		for _, h := range query(t, ix, emb, a, q) {
			if strings.HasPrefix(h.DocumentID, "b-") {
				t.Fatalf("search in space A for %q returned space B's chunk %+v", q, h)
			}
		}
	}
	hb := query(t, ix, emb, b, "confidential merger plan")
	if len(hb) == 0 || hb[0].DocumentID != "b-secret" || hb[0].ChunkID != search.ChunkID(b, "b-secret", 0) || hb[0].Text == "" {
		t.Fatalf("space B search: %+v", hb)
	}

	// Re-indexing a document replaces its chunks; deleting it removes them.
	index(t, ix, emb, a, doc{"a-budget", "The budget was withdrawn."})
	if err := ix.DeleteDocument(ctx, a, "a-retention"); err != nil {
		t.Fatal(err)
	}
	for _, h := range query(t, ix, emb, a, "retention policy for messages") {
		if h.DocumentID == "a-retention" {
			t.Fatalf("deleted document still found: %+v", h)
		}
		if h.DocumentID == "a-budget" && strings.Contains(h.Text, "schools") {
			t.Fatalf("replaced chunk still found: %+v", h)
		}
	}

	// Deleting space B's tenant removes it as a unit; A is untouched.
	if err := ix.DeleteTenant(ctx, b); err != nil {
		t.Fatal(err)
	}
	if hits := query(t, ix, emb, b, "confidential merger plan"); len(hits) != 0 {
		t.Fatalf("deleted space still has hits: %+v", hits)
	}
	if err := ix.DeleteTenant(ctx, b); err != nil {
		t.Fatalf("deleting a deleted tenant: %v", err)
	}
	if hits := query(t, ix, emb, a, "budget withdrawn"); len(hits) == 0 {
		t.Fatal("space A lost its chunks when space B was deleted")
	}
	if _, err := ix.Search(ctx, "bad tenant!", "x", []float32{1}, search.SearchOptions{}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("bad tenant name: %v", err)
	}

	// UpsertDocument (the search projection's write) indexes texts[i] as chunk i; a vector
	// missing for a text is refused before anything is written.
	texts := []string{"Snow clearing starts at five.", "Gritting follows the snow clearing."}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.UpsertDocument(ctx, a, "a-winter", texts, vecs[:1]); !domain.Is(domain.KindInternal, err) {
		t.Fatalf("one vector for two texts: %v", err)
	}
	if err := ix.UpsertDocument(ctx, a, "a-winter", texts, vecs); err != nil {
		t.Fatal(err)
	}
	hw := query(t, ix, emb, a, "gritting after snow clearing")
	if len(hw) == 0 || hw[0].DocumentID != "a-winter" || hw[0].ChunkIndex != 1 || hw[0].ChunkID != search.ChunkID(a, "a-winter", 1) {
		t.Fatalf("upserted document search: %+v", hw)
	}
}
