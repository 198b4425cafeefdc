package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

func projectionsScenarios() []Scenario {
	return []Scenario{
		{Name: "projections-rebuild", Issue: 6, Run: benchProjectionRebuild},
		{Name: "projections-rebuild-audit", Issue: 6, Run: benchAuditRebuild},
		{Name: "search-hybrid", Issue: 6, Run: benchHybridSearch},
	}
}

// benchNotes is a realistic insert-only read model: it decodes each event's JSON payload and
// writes one row, with COPY for batches.
type benchNotes struct{}

func (benchNotes) Name() string     { return "bench_notes" }
func (benchNotes) Tables() []string { return []string{"bench_notes"} }

const benchNotesDDL = `CREATE TABLE bench_notes (
	event_id    uuid PRIMARY KEY,
	stream      text NOT NULL,
	revision    bigint NOT NULL,
	n           bigint NOT NULL,
	space       text NOT NULL,
	note        text NOT NULL,
	recorded_at timestamptz NOT NULL)`

var benchNotesColumns = []string{"event_id", "stream", "revision", "n", "space", "note", "recorded_at"}

func (benchNotes) row(ev engine.Event) ([]any, error) {
	var p struct {
		N     int64  `json:"n"`
		Space string `json:"space"`
		Note  string `json:"note"`
	}
	if err := engine.DecodeJSON(ev.Data, &p); err != nil {
		return nil, err
	}
	// pgtype.UUID is encoded as its 16 bytes; a uuid.UUID would go through driver.Valuer,
	// formatted as text and parsed back, which cost a tenth of the rebuild's CPU.
	return []any{pgtype.UUID{Bytes: ev.ID, Valid: true}, ev.Stream, int64(ev.Revision), p.N, p.Space, p.Note, ev.Created}, nil
}

func (b benchNotes) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	r, err := b.row(ev)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO bench_notes VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, r...)
	return err
}

func (b benchNotes) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []engine.Event) error {
	_, err := engine.CopyEvents(ctx, tx, "bench_notes", benchNotesColumns, evs, b.row)
	return err
}

// benchProjectionRebuild seeds a million events (quick: 20,000) into the embedded store,
// rebuilds a read model from them through the projections framework (paged reads of $all
// through the official client, JSON decoding, COPY batches, blue/green swap) and, in the
// same run, COPYs the very same rows, decoded beforehand, into an identical table (same
// columns and primary key) as the baseline. The rebuild pays for reading and decoding the
// log; the baseline does not. Both run five times, alternating, and the figures are the
// medians (the ratio is the median of the five per-round ratios), so that a burst of other
// load on the machine does not decide the result. The process runs with the collector
// setting `arkiv projections rebuild` uses (engine.RebuildGCPercent), for the rebuild
// and the baseline alike, and the baseline's rows are read again each round so that none of
// them is live while the rebuild runs.
func benchProjectionRebuild(ctx context.Context, env *Env) ([]Result, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(engine.RebuildGCPercent))
	n := env.Size(1_000_000, 20_000)
	pool, log, release, err := seededLog(ctx, env, n, esdbSeed)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := pool.Exec(ctx, benchNotesDDL+"; CREATE TABLE bench_notes_copy (LIKE bench_notes INCLUDING ALL)"); err != nil {
		return nil, err
	}
	r, err := engine.NewRunner(engine.Config{Pool: pool, Log: log,
		Projections: []engine.Projection{benchNotes{}}, RebuildBatchSize: 10000})
	if err != nil {
		return nil, err
	}

	const rounds = 5
	var rebuildRates, copyRates, ratios []float64
	for round := 0; round < rounds; round++ {
		// Nothing of the baseline is live while the rebuild runs: a million decoded rows held
		// by the benchmark would make every garbage collection during the rebuild scan them,
		// a cost that no production rebuild pays.
		runtime.GC()
		start := time.Now()
		var applied int64
		if err := r.Rebuild(ctx, "bench_notes", func(p engine.RebuildProgress) { applied = p.Events }); err != nil {
			return nil, err
		}
		rebuildRate := float64(applied) / time.Since(start).Seconds()
		if applied != int64(n) {
			return nil, fmt.Errorf("rebuild applied %d events, want %d", applied, n)
		}

		// The baseline's rows: the same events, read and decoded before its timing starts.
		rows, err := benchNotesRows(ctx, log)
		if err != nil {
			return nil, err
		}
		if len(rows) != n {
			return nil, fmt.Errorf("read %d events, want %d", len(rows), n)
		}
		if _, err := pool.Exec(ctx, "TRUNCATE bench_notes_copy"); err != nil {
			return nil, err
		}
		runtime.GC()
		start = time.Now()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_notes_copy"}, benchNotesColumns, pgx.CopyFromRows(rows)); err != nil {
			return nil, err
		}
		copyRate := float64(len(rows)) / time.Since(start).Seconds()
		rebuildRates = append(rebuildRates, rebuildRate)
		copyRates = append(copyRates, copyRate)
		ratios = append(ratios, rebuildRate/copyRate)
	}
	rebuildRate, copyRate, ratio := Median(rebuildRates), Median(copyRates), Median(ratios)
	return []Result{
		{Metric: fmt.Sprintf("rebuild of %d events (median of %d, GOGC %d as the CLI)", n, rounds, engine.RebuildGCPercent), Value: rebuildRate, Unit: "events/s", Target: ">= 20000", Met: Met(rebuildRate >= 20000)},
		{Metric: fmt.Sprintf("raw COPY of the same rows (median of %d)", rounds), Value: copyRate, Unit: "rows/s"},
		{Metric: fmt.Sprintf("rebuild / COPY (median of %d rounds)", rounds), Value: ratio, Unit: "ratio", Target: ">= 0.5", Met: Met(ratio >= 0.5)},
	}, nil
}

// benchNotesRows reads the whole log and decodes it into benchNotes rows.
func benchNotesRows(ctx context.Context, log engine.Log) ([][]any, error) {
	var rows [][]any
	var at *engine.Position
	for {
		pg, err := log.Read(ctx, at, 10000)
		if err != nil {
			return nil, err
		}
		for _, ev := range pg.Events {
			row, err := benchNotes{}.row(ev)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
		if pg.End || pg.Last == nil {
			return rows, nil
		}
		at = pg.Last
	}
}

// applyOnly hides a projection's ApplyBatch, so that the framework applies one event at a
// time.
type applyOnly struct{ engine.Projection }

// benchAuditRebuild seeds 200,000 events (quick: 10,000) with Arkiv metadata on space
// streams and rebuilds the audit projection (one audit_log row per event) twice in the
// same run: through its COPY batch path and one event at a time with Apply.
func benchAuditRebuild(ctx context.Context, env *Env) ([]Result, error) {
	n := env.Size(200_000, 10_000)
	pool, log, release, err := seededLog(ctx, env, n, seedAuditEvents)
	if err != nil {
		return nil, err
	}
	defer release()
	rate := func(p engine.Projection) (float64, error) {
		r, err := engine.NewRunner(engine.Config{Pool: pool, Log: log,
			Projections: []engine.Projection{p}, RebuildBatchSize: 10000})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		var applied int64
		if err := r.Rebuild(ctx, p.Name(), func(p engine.RebuildProgress) { applied = p.Events }); err != nil {
			return 0, err
		}
		el := time.Since(start)
		var rows int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&rows); err != nil {
			return 0, err
		}
		if applied != int64(n) || rows != int64(n) {
			return 0, fmt.Errorf("rebuild applied %d events into %d rows, want %d", applied, rows, n)
		}
		return float64(n) / el.Seconds(), nil
	}
	batch, err := rate(projections.NewAudit())
	if err != nil {
		return nil, err
	}
	single, err := rate(applyOnly{projections.NewAudit()})
	if err != nil {
		return nil, err
	}
	return []Result{
		{Metric: fmt.Sprintf("audit rebuild of %d events, COPY batches", n), Value: batch, Unit: "events/s"},
		{Metric: fmt.Sprintf("audit rebuild of %d events, one INSERT per event", n), Value: single, Unit: "events/s"},
		{Metric: "COPY batches / one at a time", Value: batch / single, Unit: "ratio"},
	}, nil
}

// seededLog starts an embedded event store whose tables seed fills with n events, and a
// fresh, migrated read-model database; it returns a pool on that database, the log as the
// projections framework reads it, and a func releasing all of it.
func seededLog(ctx context.Context, env *Env, n int, seed func(ctx context.Context, pgURL string, n int) error) (pool *pgxpool.Pool, log *eventlog.Log, release func(), err error) {
	var undo cleanups
	release = undo.run
	defer func() {
		if err != nil {
			release()
		}
	}()
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	undo.push(f.close)
	f.stop()
	if err := seed(ctx, f.pgURL, n); err != nil {
		return nil, nil, nil, fmt.Errorf("seed: %w", err)
	}
	if err := f.start(ctx); err != nil {
		return nil, nil, nil, err
	}
	rmURL, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	undo.push(drop)
	if err := postgres.Migrate(ctx, rmURL); err != nil {
		return nil, nil, nil, err
	}
	if pool, err = pgxpool.New(ctx, rmURL); err != nil {
		return nil, nil, nil, err
	}
	undo.push(pool.Close)
	return pool, eventlog.New(f.client, esdbwatermill.Options{}), release, nil
}

// seedAuditEvents writes n events straight into the embedded store's tables: commands on
// 1,000 space streams, each with the metadata Arkiv's command handlers record.
func seedAuditEvents(ctx context.Context, pgURL string, n int) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	const streams = 1000
	org, actor := uuid.NewString(), uuid.NewString()
	spaces := make([]string, streams)
	for i := range spaces {
		spaces[i] = uuid.NewString()
	}
	created := time.Now().UnixNano() / 100
	at := time.Now().UTC()
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		sp := spaces[i%streams]
		meta := fmt.Appendf(nil, `{"actor":%q,"organization":%q,"space":%q,"occurredAt":%q}`,
			actor, org, sp, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
		row := []any{int64(i + 1), "space-" + sp, int64(i / streams),
			pgtype.UUID{Bytes: uuid.New(), Valid: true}, "space.member_added.v1", "application/json", created,
			fmt.Appendf(nil, `{"spaceId":%q,"userId":%q,"role":"member"}`, sp, actor), meta}
		i++
		return row, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"esdb", "events"},
		[]string{"pos", "stream", "revision", "event_id", "event_type", "content_type", "created", "data", "metadata"}, src); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO esdb.streams (name, last_revision)
		SELECT stream, max(revision) FROM esdb.events GROUP BY stream`); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `VACUUM ANALYZE esdb.events`)
	return err
}

// benchHybridSearch indexes 100,000 chunks (quick: 5,000) of synthetic text with offline
// embeddings into one tenant of a fresh collection (over gRPC batches when the dev stack
// exports ARKIV_WEAVIATE_GRPC) and measures hybrid query latency on the index at rest:
// Weaviate's BM25 walks the whole unflushed write buffer on every query, so the scenario
// waits for the buffer to be flushed (the dev stack flushes it 5 s after the last write;
// ARKIV_BENCH_SEARCH_SETTLE overrides the wait for a Weaviate configured otherwise).
func benchHybridSearch(ctx context.Context, env *Env) ([]Result, error) {
	if env.WeaviateURL == "" {
		return nil, fmt.Errorf("ARKIV_WEAVIATE_URL is not set: run through `make bench`")
	}
	settle := 10 * time.Second
	if v := os.Getenv("ARKIV_BENCH_SEARCH_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("ARKIV_BENCH_SEARCH_SETTLE: %w", err)
		}
		settle = d
	}
	ix, dropIndex, err := env.NewIndex(ctx, "BenchChunk")
	if err != nil {
		return nil, err
	}
	defer dropIndex()
	n := env.Size(100_000, 5_000)
	rng := rand.New(rand.NewPCG(6, 6))
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("%s%d", []string{"arkiv", "policy", "space", "budget", "school", "retention", "model", "archive"}[i%8], i)
	}
	text := func(words int) string {
		var b strings.Builder
		for i := 0; i < words; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[int(rng.ExpFloat64()*600)%len(vocab)])
		}
		return b.String()
	}
	emb := embedding.NewHashing(0)
	space := "bench-space"
	const batch = 1000
	importStart := time.Now()
	for start := 0; start < n; start += batch {
		m := min(batch, n-start)
		texts := make([]string, m)
		for i := range texts {
			texts[i] = text(60)
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		chunks := make([]search.Chunk, m)
		for i := range chunks {
			id := start + i
			chunks[i] = search.Chunk{DocumentID: uuid.NewSHA1(uuid.Nil, fmt.Append(nil, id/10)).String(), Index: id % 10, Text: texts[i], Vector: vecs[i]}
		}
		if err := ix.Upsert(ctx, space, chunks); err != nil {
			return nil, err
		}
	}
	importTime := time.Since(importStart)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The same queries, alternating, through the configured transport (gRPC when the dev
	// stack exports it) and through GraphQL.
	gql := ix
	if os.Getenv("ARKIV_WEAVIATE_GRPC") != "" {
		if gql, err = search.New(ctx, search.Config{URL: env.WeaviateURL, Class: ix.Class(), Timeout: 2 * time.Minute}); err != nil {
			return nil, err
		}
	}
	defer ix.Close()
	queries := env.Size(500, 100)
	lat := make([]time.Duration, 0, queries)
	latGQL := make([]time.Duration, 0, queries)
	for i := 0; i < queries+20; i++ {
		q := text(3)
		v, err := emb.Embed(ctx, []string{q})
		if err != nil {
			return nil, err
		}
		for _, via := range []*search.Index{ix, gql} {
			start := time.Now()
			hits, err := via.Search(ctx, space, q, v[0], search.SearchOptions{Limit: 10})
			if err != nil {
				return nil, err
			}
			d := time.Since(start)
			if len(hits) == 0 {
				return nil, fmt.Errorf("query %q found nothing", q)
			}
			if i < 20 { // the first queries warm caches
				continue
			}
			if via == ix {
				lat = append(lat, d)
			} else {
				latGQL = append(latGQL, d)
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	via := "GraphQL"
	if gql != ix {
		via = "gRPC"
	}
	p99 := Percentile(lat, 99)
	rs := []Result{
		{Metric: fmt.Sprintf("import of %d chunks", n), Value: float64(n) / importTime.Seconds(), Unit: "chunks/s"},
		{Metric: fmt.Sprintf("hybrid search p50 over %d chunks (%s)", n, via), Value: ms(Percentile(lat, 50)), Unit: "ms"},
		{Metric: fmt.Sprintf("hybrid search p99 over %d chunks (%s)", n, via), Value: ms(p99), Unit: "ms", Target: "<= 50", Met: Met(p99 <= 50*time.Millisecond)},
	}
	if gql != ix {
		rs = append(rs,
			Result{Metric: fmt.Sprintf("hybrid search p50 over %d chunks (GraphQL, same queries)", n), Value: ms(Percentile(latGQL, 50)), Unit: "ms"},
			Result{Metric: fmt.Sprintf("hybrid search p99 over %d chunks (GraphQL, same queries)", n), Value: ms(Percentile(latGQL, 99)), Unit: "ms"})
	}
	return rs, nil
}
