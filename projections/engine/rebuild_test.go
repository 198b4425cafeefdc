package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func TestRebuildSwapsInFreshTablesWhileTheLiveRunnerGoesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	streams := []string{"s-" + uuid.NewString(), "s-" + uuid.NewString(), "s-" + uuid.NewString()}
	want := map[string]int64{}
	for _, s := range streams {
		appendEvents(t, e.client, s, repeat("test.added", 40)...)
		want[s] = 40
	}
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{&counter{}}, BatchSize: 25, RebuildBatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	w := engine.NewWaiter(e.pool, nil)
	defer w.Close()
	ctx := context.Background()
	head, err := e.log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WaitFor(ctx, []string{"test_counter"}, head.Commit, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The read model drifts from the log (as after a bug in an older projection version).
	if _, err := e.pool.Exec(ctx, "UPDATE test_counts SET weight = 0"); err != nil {
		t.Fatal(err)
	}

	// Writes keep arriving while the rebuild runs.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 10; i++ {
			appendEvents(t, e.client, streams[i%3], "test.added", "test.added")
			time.Sleep(3 * time.Millisecond)
		}
	}()
	var reports []engine.RebuildProgress
	if err := r.Rebuild(ctx, "test_counter", func(p engine.RebuildProgress) { reports = append(reports, p) }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := 0; i < 10; i++ {
		want[streams[i%3]] += 2
	}
	last := appendEvents(t, e.client, streams[0], "test.added")
	want[streams[0]]++
	if err := w.WaitFor(ctx, []string{"test_counter"}, last, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	rows, err := e.pool.Query(ctx, "SELECT stream, n, weight FROM test_counts")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		var s string
		var n, weight int64
		if err := rows.Scan(&s, &n, &weight); err != nil {
			t.Fatal(err)
		}
		if weight != n {
			t.Errorf("stream %s: weight %d after rebuild, want %d", s, weight, n)
		}
		got[s] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("stream %s: %d events applied, want %d", s, got[s], n)
		}
	}
	if len(reports) < 2 || !reports[len(reports)-1].Swapped || reports[len(reports)-1].Events < 120 {
		t.Errorf("progress reports %+v, want several ending with the swap after at least 120 events", reports)
	}
	var leftovers int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%' OR nspname LIKE 'retired\\_%'").Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if leftovers != 0 {
		t.Errorf("%d shadow schemas left behind", leftovers)
	}
	sts, _, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].State != engine.StateRunning || sts[0].Behind != 0 || sts[0].Lag != 0 {
		t.Errorf("status after rebuild %+v, want running and caught up", sts[0])
	}
}

func TestRebuildOfUnknownProjectionOrMissingTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{&counter{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Rebuild(ctx, "nope", nil); err == nil {
		t.Fatal("rebuild of an unknown projection succeeded")
	}
	if _, err := e.pool.Exec(ctx, "DROP TABLE test_counts"); err != nil {
		t.Fatal(err)
	}
	if err := r.Rebuild(ctx, "test_counter", nil); err == nil {
		t.Fatal("rebuild without the projection's table succeeded")
	}
}

// batchCounter is counter with a batch path that, like a COPY meeting a row that already
// exists, gives up on pages holding a "test.nobatch" event after writing part of them.
type batchCounter struct {
	*counter
	batches, refused atomic.Int32
}

func (b *batchCounter) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []engine.Event) error {
	b.batches.Add(1)
	for _, ev := range evs {
		if ev.Type == "test.nobatch" {
			b.refused.Add(1)
			return fmt.Errorf("the batch path cannot apply %s", ev.Type)
		}
		if err := b.counter.Apply(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

func TestRebuildFallsBackToOneAtATimeWhenABatchFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	streams := []string{"s-" + uuid.NewString(), "s-" + uuid.NewString()}
	for _, s := range streams {
		appendEvents(t, e.client, s, repeat("test.added", 10)...)
		appendEvents(t, e.client, s, "test.nobatch")
		appendEvents(t, e.client, s, repeat("test.added", 10)...)
	}
	p := &batchCounter{counter: &counter{}}
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{p}, RebuildBatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Rebuild(context.Background(), "test_counter", nil); err != nil {
		t.Fatal(err)
	}
	got := counts(t, e.pool)
	for _, s := range streams {
		// counter fails loudly on an event applied twice or out of order, so the part of a
		// refused batch written before it gave up must have been undone.
		if got[s] != 21 {
			t.Errorf("stream %s: %d events applied, want 21", s, got[s])
		}
	}
	if p.refused.Load() == 0 || p.batches.Load() <= p.refused.Load() {
		t.Errorf("%d batches, %d refused: the test did not exercise both paths", p.batches.Load(), p.refused.Load())
	}
}
