package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/arkiv/arkiv/domain"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// counter is the test projection. For each event it bumps its stream's count, and it checks
// that the count equals the event's revision first, so an event applied twice or out of order
// fails loudly instead of going unnoticed. "test.poison" events always fail; "test.flaky"
// events fail on their first two attempts; "test.outage" events fail KindUnavailable (a
// dependency down) on their first twelve.
type counter struct {
	flaky  atomic.Int32
	outage atomic.Int32
	block  func(ev engine.Event) // called before applying each event, when set
}

func (c *counter) Name() string     { return "test_counter" }
func (c *counter) Tables() []string { return []string{"test_counts"} }

func (c *counter) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	if c.block != nil {
		c.block(ev)
	}
	switch ev.Type {
	case "test.poison":
		return errors.New("cannot apply a poison event")
	case "test.flaky":
		if c.flaky.Add(1) <= 2 {
			return errors.New("transient failure")
		}
	case "test.outage":
		if c.outage.Add(1) <= 12 {
			return domain.E(domain.KindUnavailable, "test", "the dependency is down")
		}
	}
	var payload struct {
		Weight int `json:"weight"`
	}
	if err := json.Unmarshal(ev.Data, &payload); err != nil {
		return err
	}
	if ev.Revision == 0 {
		_, err := tx.Exec(ctx, `INSERT INTO test_counts (stream, n, weight) VALUES ($1, 1, $2)`, ev.Stream, payload.Weight)
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE test_counts SET n = n + 1, weight = weight + $3 WHERE stream = $1 AND n = $2`,
		ev.Stream, int64(ev.Revision), payload.Weight)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("event %d of %s applied out of order or twice", ev.Revision, ev.Stream)
	}
	return nil
}

const countsDDL = `CREATE TABLE test_counts (
	stream text PRIMARY KEY,
	n      bigint NOT NULL,
	weight bigint NOT NULL)`

// env is one test's world: its own read-model database, its own embedded event store.
type env struct {
	pool   *pgxpool.Pool
	pgURL  string
	srv    *esdbserver.Server
	client *esdb.Client
	log    *eventlog.Log
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{pgURL: pgtest.NewDatabase(t)}
	if err := postgres.Migrate(ctx, e.pgURL); err != nil {
		t.Fatal(err)
	}
	var err error
	e.pool, err = pgxpool.New(context.Background(), e.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	if _, err := e.pool.Exec(ctx, countsDDL); err != nil {
		t.Fatal(err)
	}
	e.srv, err = esdbserver.Start(ctx, esdbserver.Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.srv.Close(ctx)
	})
	e.client = newClient(t, e.srv.ConnectionString())
	e.log = eventlog.New(e.client, esdbwatermill.Options{BackoffInitial: 20 * time.Millisecond})
	return e
}

func newClient(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// appendEvents appends events of the given types to stream and returns the last position.
func appendEvents(t *testing.T, c *esdb.Client, stream string, types ...string) uint64 {
	t.Helper()
	evs := make([]esdb.EventData, len(types))
	for i, typ := range types {
		evs[i] = esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson,
			Data: []byte(`{"weight":1}`), Metadata: []byte(`{"test":true}`)}
	}
	res, err := c.AppendToStream(context.Background(), stream, esdb.AppendToStreamOptions{}, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res.CommitPosition
}

func repeat(typ string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = typ
	}
	return s
}

// startRunner runs r until the test ends and returns a channel with Run's result.
func startRunner(t *testing.T, r *engine.Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once atomic.Bool
	stop = func() error {
		if !once.CompareAndSwap(false, true) {
			return nil
		}
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("runner did not stop")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func counts(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT stream, n FROM test_counts")
	if err != nil {
		t.Fatal(err)
	}
	m, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		s string
		n int64
	}, error) {
		var v struct {
			s string
			n int64
		}
		err := r.Scan(&v.s, &v.n)
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, v := range m {
		out[v.s] = v.n
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkpoint(t *testing.T, pool *pgxpool.Pool, name string) uint64 {
	t.Helper()
	var c int64
	err := pool.QueryRow(context.Background(), "SELECT commit_position FROM projection_checkpoints WHERE name = $1", name).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return uint64(c)
}
