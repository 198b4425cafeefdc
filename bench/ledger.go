package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// ledgerScenarios measure the verifiable log (issue 15).
func ledgerScenarios() []Scenario {
	return []Scenario{
		{Name: "ledger-verify", Issue: 15, Run: benchLedgerVerify},
		{Name: "ledger-append-overhead", Issue: 15, Run: benchLedgerAppendOverhead},
		{Name: "ledger-proofs", Issue: 15, Run: benchLedgerProofs},
	}
}

// benchKey is a fresh signing key.
func benchKey() (*ledger.Key, error) {
	skey, vkey, err := ledger.GenerateKey("bench.arkiv/ledger")
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	return &ledger.Key{Signer: s, VerifierKey: vkey}, nil
}

// seedLedgerLog returns a seed func writing n events straight into the embedded store's
// tables as Arkiv's command handlers would have appended them: 1,000 streams, each event
// chained to its predecessor, and a checkpoint signed with key in the ledger stream after
// every 1,000 events, as the checkpointer would have appended it.
func seedLedgerLog(key *ledger.Key) func(ctx context.Context, pgURL string, n int) error {
	return func(ctx context.Context, pgURL string, n int) error {
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		const streams = 1000
		org, actor := uuid.NewString(), uuid.NewString()
		names := make([]string, streams)
		for i := range names {
			names[i] = "space-" + uuid.NewString()
		}
		heads := map[string]string{}
		revs := map[string]int64{}
		tree := ledger.NewTree()
		created := time.Now().UnixNano() / 100
		at := time.Now().UTC()
		i, pos := 0, int64(0)
		var pending [][]any
		row := func(stream, typ string, data []byte, occurred time.Time) ([]any, error) {
			id := uuid.New()
			md, err := json.Marshal(domain.Metadata{Actor: actor, Organization: org, CommandID: uuid.NewString(),
				SchemaVersion: 1, PrevHash: heads[stream], OccurredAt: occurred})
			if err != nil {
				return nil, err
			}
			rev := revs[stream]
			pos++
			e := ledger.Entry{EventID: id.String(), Stream: stream, Revision: uint64(rev), Type: typ,
				Created: time.Unix(0, created*100), Data: data, Metadata: md}
			tree.Append(ledger.LeafOf(e).Hash(), nil)
			heads[stream] = domain.EventHash(e.EventID, typ, data, md)
			revs[stream] = rev + 1
			return []any{pos, stream, rev, pgtype.UUID{Bytes: id, Valid: true}, typ, "application/json", created, data, md}, nil
		}
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if len(pending) > 0 {
				r := pending[0]
				pending = pending[1:]
				return r, nil
			}
			if i >= n {
				return nil, nil
			}
			sp := names[i%streams]
			occurred := at.Add(time.Duration(i) * time.Millisecond)
			r, err := row(sp, "space.member_added.v1", fmt.Appendf(nil, `{"spaceId":%q,"userId":%q,"role":"member"}`, sp, actor), occurred)
			if err != nil {
				return nil, err
			}
			i++
			if i%1000 == 0 {
				cp := ledger.Checkpoint{Origin: key.Origin(), Size: tree.Size(), Root: tree.Root()}
				msg, err := cp.Sign(key.Signer)
				if err != nil {
					return nil, err
				}
				data, _ := json.Marshal(ledger.CheckpointData{Note: string(msg), Size: cp.Size})
				c, err := row(ledger.DefaultStream, ledger.CheckpointType, data, occurred)
				if err != nil {
					return nil, err
				}
				pending = append(pending, c)
			}
			return r, nil
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
}

// benchLedgerVerify verifies a log of 1,000,000 events (quick: 20,000) with a signed
// checkpoint every 1,000 through the official client, as `arkiv audit verify
// --no-ledger-records` does (GOGC 400), and reads the same log plainly (the same pages, no
// checks), alternating the two.
func benchLedgerVerify(ctx context.Context, env *Env) ([]Result, error) {
	key, err := benchKey()
	if err != nil {
		return nil, err
	}
	n := env.Size(1_000_000, 20_000)
	_, wlog, release, err := seededLog(ctx, env, n, seedLedgerLog(key))
	if err != nil {
		return nil, err
	}
	defer release()
	log := ledgerproj.NewLogReader(wlog)
	total := n + n/1000
	plain := func() (int, error) {
		var after *ledgerproj.Position
		read := 0
		for {
			pg, err := log.ReadPage(ctx, after, ledgerproj.PageSize)
			if err != nil {
				return 0, err
			}
			read += len(pg.Entries)
			if pg.End || pg.Last == nil {
				return read, nil
			}
			after = pg.Last
		}
	}
	opts := ledger.Options{Keys: note.VerifierList(key.Verifier())}
	// As `arkiv audit verify` runs (both passes, so the ratio compares like with like).
	defer debug.SetGCPercent(debug.SetGCPercent(ledgerproj.VerifyGCPercent))
	var reads, verifies, ratios []float64
	for round := 0; round < env.Size(3, 2); round++ {
		start := time.Now()
		got, err := plain()
		if err != nil {
			return nil, err
		}
		readRate := float64(got) / time.Since(start).Seconds()
		if got != total {
			return nil, fmt.Errorf("read %d of %d events", got, total)
		}
		start = time.Now()
		rep, err := ledgerproj.VerifyLog(ctx, log, opts, nil)
		if err != nil {
			return nil, err
		}
		verifyRate := float64(rep.Leaves) / time.Since(start).Seconds()
		if !rep.OK || rep.Leaves != uint64(total) || rep.Checkpoints != n/1000 {
			return nil, fmt.Errorf("verification: %+v", rep)
		}
		reads, verifies, ratios = append(reads, readRate), append(verifies, verifyRate), append(ratios, verifyRate/readRate)
	}
	ratio := Median(ratios)
	return []Result{
		{Metric: fmt.Sprintf("plain $all read of %d events (median)", total), Value: Median(reads), Unit: "events/s"},
		{Metric: fmt.Sprintf("verification of the same log, %d checkpoints (median)", n/1000), Value: Median(verifies), Unit: "events/s"},
		{Metric: fmt.Sprintf("verification / read (median of %d rounds)", len(ratios)), Value: ratio, Unit: "ratio", Target: ">= 0.7", Met: Met(ratio >= 0.7)},
	}, nil
}

// benchLedgerAppendOverhead measures single-event appends by 8 writers with expected
// revisions (through the adapter the command handlers use), alternately with the ledger
// projection and the checkpointer (defaults: 1,000 events / 10 s) running and without.
func benchLedgerAppendOverhead(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.close()
	rmURL, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := postgres.Migrate(ctx, rmURL); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, rmURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	key, err := benchKey()
	if err != nil {
		return nil, err
	}
	store := eventstore.New(f.client)
	const writers = 8
	perRound := env.Size(16_000, 1_600)
	round := 0
	appendRound := func() (float64, error) {
		round++
		var done atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, writers)
		start := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				stream := fmt.Sprintf("space-%d-%d", round, w)
				prev, expected := "", domain.NoStream
				for i := 0; i < perRound/writers; i++ {
					id := uuid.NewString()
					md, _ := json.Marshal(domain.Metadata{Actor: "bench", CommandID: id, SchemaVersion: 1, PrevHash: prev})
					p := domain.Proposed{EventID: id, Type: "space.member_added.v1", Data: fmt.Appendf(nil, `{"n":%d,"note":"a small JSON payload"}`, i), Metadata: md}
					if _, err := store.Append(ctx, stream, expected, []domain.Proposed{p}); err != nil {
						errc <- err
						return
					}
					prev = domain.EventHash(id, p.Type, p.Data, md)
					expected++
					done.Add(1)
				}
			}(w)
		}
		wg.Wait()
		close(errc)
		if err := <-errc; err != nil {
			return 0, err
		}
		return float64(done.Load()) / time.Since(start).Seconds(), nil
	}
	withLedger := func() (float64, error) {
		runner, err := engine.NewRunner(engine.Config{Pool: pool,
			Log:         eventlog.New(f.client, esdbwatermill.Options{Logger: slog.New(slog.DiscardHandler)}),
			Projections: []engine.Projection{ledgerproj.NewProjection()}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return 0, err
		}
		cp, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{Pool: pool, Store: store, Key: key, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return 0, err
		}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = runner.Run(rctx) }()
		go func() { defer wg.Done(); _ = cp.Run(rctx) }()
		defer func() { cancel(); wg.Wait() }()
		// Let the ledger catch up with the earlier rounds first.
		if err := waitLedger(ctx, pool, f.client); err != nil {
			return 0, err
		}
		return appendRound()
	}
	if _, err := appendRound(); err != nil { // warm-up
		return nil, err
	}
	var without, with, ratios []float64
	for r := 0; r < env.Size(3, 2); r++ {
		a, err := appendRound()
		if err != nil {
			return nil, err
		}
		b, err := withLedger()
		if err != nil {
			return nil, err
		}
		without, with, ratios = append(without, a), append(with, b), append(ratios, b/a)
	}
	ratio := Median(ratios)
	return []Result{
		{Metric: fmt.Sprintf("appends, %d writers, ledger off (median)", writers), Value: Median(without), Unit: "events/s"},
		{Metric: fmt.Sprintf("appends, %d writers, ledger projection + checkpoints on (median)", writers), Value: Median(with), Unit: "events/s"},
		{Metric: fmt.Sprintf("on / off (median of %d rounds)", len(ratios)), Value: ratio, Unit: "ratio", Target: ">= 0.95", Met: Met(ratio >= 0.95)},
	}, nil
}

// waitLedger waits until the ledger projection holds every non-system event of the log.
func waitLedger(ctx context.Context, pool *pgxpool.Pool, client *esdb.Client) error {
	head, err := eventlog.New(client, esdbwatermill.Options{}).Head(ctx)
	if err != nil || head == nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var pos *int64
		if err := pool.QueryRow(ctx, `SELECT commit_position FROM projection_checkpoints WHERE name = $1`, ledgerproj.Name).Scan(&pos); err == nil && pos != nil && uint64(*pos) >= head.Commit {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the ledger projection did not catch up")
}

// benchLedgerProofs projects a log of 100,000 events (quick: 5,000) into the ledger, then
// measures inclusion proof generation (Reader.Proof: Postgres lookups of the leaf, the
// checkpoint and log2(n) nodes) and offline verification (parse the proof text, check the
// note's signature and the inclusion) for 2,000 random events.
func benchLedgerProofs(ctx context.Context, env *Env) ([]Result, error) {
	key, err := benchKey()
	if err != nil {
		return nil, err
	}
	n := env.Size(100_000, 5_000)
	pool, wlog, release, err := seededLog(ctx, env, n, seedLedgerLog(key))
	if err != nil {
		return nil, err
	}
	defer release()
	runner, err := engine.NewRunner(engine.Config{Pool: pool, Log: wlog,
		Projections: []engine.Projection{ledgerproj.NewProjection()}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { _ = runner.Run(rctx); close(stopped) }()
	reader := ledgerproj.NewReader(pool, key.VerifierKey)
	total := uint64(n + n/1000)
	for {
		size, err := reader.TreeSize(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		if size >= total {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-stopped
	ids := make([]string, 0, 2000)
	rows, err := pool.Query(ctx, `SELECT event_id::text FROM ledger_leaves WHERE idx < $1 ORDER BY random() LIMIT 2000`, int64(n-1000))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	keys := note.VerifierList(key.Verifier())
	var gen, ver []time.Duration
	for _, id := range ids {
		start := time.Now()
		p, err := reader.Proof(ctx, id)
		if err != nil {
			return nil, err
		}
		text := p.Marshal()
		gen = append(gen, time.Since(start))
		start = time.Now()
		parsed, err := ledger.ParseProof(text)
		if err != nil {
			return nil, err
		}
		if _, err := ledger.VerifyProof(parsed, keys); err != nil {
			return nil, err
		}
		ver = append(ver, time.Since(start))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	g99, v99 := ms(Percentile(gen, 99)), ms(Percentile(ver, 99))
	return []Result{
		{Metric: fmt.Sprintf("proof generation p50, tree of %d", total), Value: ms(Percentile(gen, 50)), Unit: "ms"},
		{Metric: fmt.Sprintf("proof generation p99, tree of %d", total), Value: g99, Unit: "ms", Target: "<= 5", Met: Met(g99 <= 5)},
		{Metric: "offline proof verification p50", Value: ms(Percentile(ver, 50)), Unit: "ms"},
		{Metric: "offline proof verification p99", Value: v99, Unit: "ms", Target: "<= 1", Met: Met(v99 <= 1)},
	}, nil
}
