package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// esdbScenarios measure the embedded EventStoreDB server (issue 3) through the official
// client over loopback, each against a fresh database.
func esdbScenarios() []Scenario {
	return []Scenario{
		{Name: "esdb-append-1-writer", Issue: 3, Run: benchAppendWriters(1)},
		{Name: "esdb-append-32-writers", Issue: 3, Run: benchAppendWriters(32)},
		{Name: "esdb-append-batch-100", Issue: 3, Run: benchAppendBatch},
		{Name: "esdb-read-all-and-catch-up", Issue: 3, Run: benchReadAndCatchUp},
		{Name: "esdb-live-latency", Issue: 3, Run: benchLiveLatency},
	}
}

// esdbFixture is an embedded server on a fresh database and an official client to it.
type esdbFixture struct {
	srv    *esdbserver.Server
	client *esdb.Client
	pgURL  string
	drop   func()
}

func startESDB(ctx context.Context, env *Env) (*esdbFixture, error) {
	url, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	f := &esdbFixture{pgURL: url, drop: drop}
	if err := f.start(ctx); err != nil {
		drop()
		return nil, err
	}
	return f, nil
}

func (f *esdbFixture) start(ctx context.Context) error {
	srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: f.pgURL, Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		return err
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		return err
	}
	f.srv, f.client = srv, c
	return nil
}

func (f *esdbFixture) stop() {
	if f.client != nil {
		_ = f.client.Close()
	}
	if f.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = f.srv.Close(ctx)
		cancel()
	}
	f.client, f.srv = nil, nil
}

func (f *esdbFixture) close() {
	f.stop()
	f.drop()
}

func esdbEvent(i int) esdb.EventData {
	return esdb.EventData{
		EventID:     uuid.New(),
		EventType:   "bench.recorded.v1",
		ContentType: esdb.ContentTypeJson,
		Data:        fmt.Appendf(nil, `{"n":%d,"space":"bench","note":"a small JSON payload of about a hundred bytes"}`, i),
	}
}

// benchAppendWriters measures single-event appends by n concurrent writers, each on its
// own stream with an expected revision (the command handlers' pattern).
func benchAppendWriters(writers int) func(ctx context.Context, env *Env) ([]Result, error) {
	return func(ctx context.Context, env *Env) ([]Result, error) {
		f, err := startESDB(ctx, env)
		if err != nil {
			return nil, err
		}
		defer f.close()
		perWriter := env.Size(20_000, 1_000) / writers
		if writers == 1 {
			perWriter = env.Size(3_000, 300)
		}
		// Warm up the connection.
		if _, err := f.client.AppendToStream(ctx, "warmup", esdb.AppendToStreamOptions{}, esdbEvent(0)); err != nil {
			return nil, err
		}
		var wg sync.WaitGroup
		var firstErr atomic.Value
		start := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				stream := fmt.Sprintf("writer-%d", w)
				var exp esdb.ExpectedRevision = esdb.NoStream{}
				for i := 0; i < perWriter; i++ {
					if _, err := f.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, esdbEvent(i)); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					exp = esdb.Revision(uint64(i))
				}
			}(w)
		}
		wg.Wait()
		elapsed := time.Since(start)
		if err, ok := firstErr.Load().(error); ok {
			return nil, err
		}
		rate := float64(writers*perWriter) / elapsed.Seconds()
		r := Result{Metric: fmt.Sprintf("appends, %d writer(s), 1 event each", writers), Value: rate, Unit: "events/s"}
		if writers == 32 {
			r.Target, r.Met = ">= 5000", Met(rate >= 5000)
		}
		return []Result{r}, nil
	}
}

// benchAppendBatch measures 100-event appends by one writer.
func benchAppendBatch(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.close()
	batches := env.Size(1_000, 50)
	evs := make([]esdb.EventData, 100)
	start := time.Now()
	for b := 0; b < batches; b++ {
		for i := range evs {
			evs[i] = esdbEvent(b*100 + i)
		}
		if _, err := f.client.AppendToStream(ctx, fmt.Sprintf("batch-%d", b%10), esdb.AppendToStreamOptions{}, evs...); err != nil {
			return nil, err
		}
	}
	rate := float64(batches*100) / time.Since(start).Seconds()
	return []Result{{Metric: "appends of 100-event batches, 1 writer", Value: rate, Unit: "events/s",
		Target: ">= 30000", Met: Met(rate >= 30000)}}, nil
}

// esdbSeed bulk-loads n events straight into the store's tables with COPY (the server is
// stopped meanwhile and reloads its head on start). This keeps a million-event seed within
// seconds; the figures measured afterwards go through the official client.
func esdbSeed(ctx context.Context, pgURL string, n int) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	const streams = 1000
	created := time.Now().UnixNano() / 100
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		id := uuid.New()
		row := []any{int64(i + 1), fmt.Sprintf("seed-%d", i%streams), int64(i / streams),
			pgtype.UUID{Bytes: id, Valid: true}, "bench.seeded.v1", "application/json", created,
			fmt.Appendf(nil, `{"n":%d,"space":"bench","note":"a small JSON payload of about a hundred bytes"}`, i), []byte{}}
		i++
		return row, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"esdb", "events"},
		[]string{"pos", "stream", "revision", "event_id", "event_type", "content_type", "created", "data", "metadata"}, src); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `INSERT INTO esdb.streams (name, last_revision)
		SELECT stream, max(revision) FROM esdb.events GROUP BY stream`)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `VACUUM ANALYZE esdb.events`)
	return err
}

// benchReadAndCatchUp seeds a million events (quick: 50,000), then measures a forward read
// of $all and a catch-up subscription to $all over all of them.
func benchReadAndCatchUp(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.close()
	n := env.Size(1_000_000, 50_000)
	f.stop()
	if err := esdbSeed(ctx, f.pgURL, n); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := f.start(ctx); err != nil {
		return nil, err
	}

	start := time.Now()
	rs, err := f.client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, uint64(n))
	if err != nil {
		return nil, err
	}
	read := 0
	for {
		_, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rs.Close()
			return nil, err
		}
		read++
	}
	rs.Close()
	readRate := float64(read) / time.Since(start).Seconds()
	if read != n {
		return nil, fmt.Errorf("read %d of %d events", read, n)
	}

	start = time.Now()
	sub, err := f.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		return nil, err
	}
	got := 0
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			sub.Close()
			return nil, e.SubscriptionDropped.Error
		}
		if e.EventAppeared != nil {
			got++
		}
		if e.CaughtUp != nil {
			break
		}
	}
	subRate := float64(got) / time.Since(start).Seconds()
	sub.Close()
	if got != n {
		return nil, fmt.Errorf("subscription delivered %d of %d events", got, n)
	}
	return []Result{
		{Metric: fmt.Sprintf("$all forward read, %d events", n), Value: readRate, Unit: "events/s",
			Target: ">= 100000", Met: Met(readRate >= 100000)},
		{Metric: fmt.Sprintf("catch-up subscription to $all, %d events", n), Value: subRate, Unit: "events/s"},
	}, nil
}

// benchLiveLatency measures the time from starting an append to a live $all subscriber
// receiving it (commit included), one event at a time.
func benchLiveLatency(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.close()
	n := env.Size(2_000, 200)
	sub, err := f.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	sent := make(map[uuid.UUID]time.Time, n)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	done := make(chan error, 1)
	go func() {
		for len(lat) < n {
			e := sub.Recv()
			if e.SubscriptionDropped != nil {
				done <- e.SubscriptionDropped.Error
				return
			}
			if e.EventAppeared == nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			t0, ok := sent[e.EventAppeared.OriginalEvent().EventID]
			mu.Unlock()
			if ok {
				lat = append(lat, now.Sub(t0))
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		ev := esdbEvent(i)
		mu.Lock()
		sent[ev.EventID] = time.Now()
		mu.Unlock()
		if _, err := f.client.AppendToStream(ctx, "live", esdb.AppendToStreamOptions{}, ev); err != nil {
			return nil, err
		}
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
	case <-time.After(30 * time.Second):
		return nil, errors.New("live events not all delivered")
	}
	p50 := Percentile(lat, 50)
	p99 := Percentile(lat, 99)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return []Result{
		{Metric: "live delivery latency p50 (append start to subscriber)", Value: ms(p50), Unit: "ms"},
		{Metric: "live delivery latency p99 (append start to subscriber)", Value: ms(p99), Unit: "ms",
			Target: "<= 10", Met: Met(p99 <= 10*time.Millisecond)},
	}, nil
}
