package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/retrieval"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/google/uuid"
)

func ragScenarios() []Scenario {
	return []Scenario{{Name: "rag-ask-offline", Issue: 8, Run: ragBenchAsk}}
}

// ragBenchAsk ingests 100,000 chunks (quick: 2,000) of synthetic text with offline
// embeddings into one space's tenant, reporting ingestion throughput (chunk text MB/s,
// embedding included; gRPC batch import when ARKIV_WEAVIATE_GRPC is set), then measures the
// ask path with the offline provider: embed the question, hybrid search, chunk counts,
// limits, payload and extractive answer. The event-store append of the exchange is
// measured by the commands scenarios.
func ragBenchAsk(ctx context.Context, env *Env) ([]Result, error) {
	if env.WeaviateURL == "" {
		return nil, fmt.Errorf("ARKIV_WEAVIATE_URL is not set: run through `make bench`")
	}
	grpc := os.Getenv("ARKIV_WEAVIATE_GRPC")
	ix, dropIndex, err := env.NewIndex(ctx, "BenchRag")
	if err != nil {
		return nil, err
	}
	defer dropIndex()
	n := env.Size(100_000, 2_000)
	rng := rand.New(rand.NewPCG(8, 8))
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("%s%d", []string{"bridge", "budget", "school", "harbour", "policy", "permit", "road", "council"}[i%8], i)
	}
	sentence := func(words int) string {
		var b strings.Builder
		for i := 0; i < words; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[int(rng.ExpFloat64()*600)%len(vocab)])
		}
		b.WriteByte('.')
		return b.String()
	}
	emb := embedding.NewHashing(0)
	space := uuid.NewString()
	const batch = 1000
	var bytes int64
	start := time.Now()
	for off := 0; off < n; off += batch {
		m := min(batch, n-off)
		texts := make([]string, m)
		for i := range texts {
			texts[i] = sentence(12) + " " + sentence(12) + " " + sentence(12) + " " + sentence(12)
			bytes += int64(len(texts[i]))
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		chunks := make([]search.Chunk, m)
		for i := range chunks {
			id := off + i
			chunks[i] = search.Chunk{DocumentID: uuid.NewSHA1(uuid.Nil, fmt.Append(nil, id/10)).String(), Index: id % 10, Text: texts[i], Vector: vecs[i]}
		}
		if err := ix.Upsert(ctx, space, chunks); err != nil {
			return nil, err
		}
	}
	ingest := time.Since(start)
	mbps := float64(bytes) / 1e6 / ingest.Seconds()

	ret := retrieval.New(ix, emb)
	offline := llm.NewOffline()
	model := domain.AllowedModel{ID: llm.OfflineModel, Endpoint: llm.OfflineEndpoint, Region: domain.RegionOnPrem}
	limits := domain.LimitsFor(0, 0, model.Region)
	queries := env.Size(500, 100)
	lat := make([]time.Duration, 0, queries)
	for i := 0; i < queries+20; i++ {
		q := "What is the " + vocab[rng.IntN(600)] + " and " + vocab[rng.IntN(600)] + "?"
		t0 := time.Now()
		cands, err := ret.Retrieve(ctx, space, q, 4*limits.MaxExcerpts)
		if err != nil {
			return nil, err
		}
		sel := domain.SelectExcerpts(cands, limits)
		req := commands.ModelRequest{Model: model.ID, Endpoint: model.Endpoint, Question: q}
		var b strings.Builder
		for j, s := range sel {
			fmt.Fprintf(&b, "[%d] (document %s)\n%s\n\n", j+1, s.DocumentID, s.Text)
			req.Excerpts = append(req.Excerpts, commands.ModelExcerpt{Number: j + 1, DocumentID: s.DocumentID, Text: s.Text})
		}
		req.Messages = []commands.ChatMessage{{Role: "system", Content: "Answer from the excerpts."}, {Role: "user", Content: b.String() + "Question: " + q}}
		if _, err := offline.Complete(ctx, req); err != nil {
			return nil, err
		}
		if i >= 20 {
			lat = append(lat, time.Since(t0))
		}
	}
	p99 := Percentile(lat, 99)
	via := "REST batch"
	if grpc != "" {
		via = "gRPC batch"
	}
	return []Result{
		{Metric: fmt.Sprintf("ingestion into Weaviate (%s, offline embeddings) of %d chunks", via, n), Value: mbps, Unit: "MB/s"},
		{Metric: fmt.Sprintf("ask (offline provider) p50 over %d chunks", n), Value: float64(Percentile(lat, 50).Microseconds()) / 1000, Unit: "ms"},
		{Metric: fmt.Sprintf("ask (offline provider) p99 over %d chunks", n), Value: float64(p99.Microseconds()) / 1000, Unit: "ms", Target: "<= 100", Met: Met(p99 <= 100*time.Millisecond)},
	}, nil
}
