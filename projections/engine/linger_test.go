package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/projections/engine"
)

// lingering is the counter projection as a LingeringProjection.
type lingering struct {
	*counter
	linger time.Duration
}

func (l lingering) Linger() time.Duration { return l.linger }

// A lingering projection commits events that arrive one by one on a quiet log together, once
// the first has waited its linger, without a further event to push the batch out.
func TestLingeringProjectionCommitsQuietArrivalsTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var commits atomic.Int32
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections:  []engine.Projection{lingering{&counter{}, 3 * time.Second}},
		BeforeCommit: func(context.Context, string, engine.Position) error { commits.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	stream := "s-" + uuid.NewString()
	var last uint64
	for range 10 { // ten appends, each its own commit in the log
		last = appendEvents(t, e.client, stream, "test.added")
	}
	waitFor(t, "the lingering batch", func() bool { return checkpoint(t, e.pool, "test_counter") == last })
	if n := counts(t, e.pool)[stream]; n != 10 {
		t.Fatalf("applied %d events, want 10", n)
	}
	// Without the linger each arrival would be its own transaction (the subscriber holds
	// nothing behind it).
	if n := commits.Load(); n > 2 {
		t.Fatalf("%d transactions for 10 events that arrived within the linger, want at most 2", n)
	}
}

// A poison event in a lingering batch stops the projection and is recorded, though no later
// event comes to retry it.
func TestLingeringPoisonEventStopsTheProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := "s-" + uuid.NewString()
	before := appendEvents(t, e.client, stream, "test.added")
	appendEvents(t, e.client, stream, "test.poison")
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{lingering{&counter{}, 50 * time.Millisecond}}, MaxRetries: 2,
		RetryInitial: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	var st engine.Status
	waitFor(t, "the failure", func() bool {
		sts, _, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st = sts[0]
		return st.State == engine.StateFailed
	})
	if st.FailedEventType != "test.poison" || st.Checkpoint == nil || st.Checkpoint.Commit != before {
		t.Fatalf("status %+v, want failed on the test.poison event after the first event", st)
	}
	if err := stop(); err == nil {
		t.Fatal("Run returned no error although the projection failed")
	}
}

// A lingering batch is committed when the runner stops.
func TestLingeringBatchIsCommittedAtShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{lingering{&counter{}, time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	stream := "s-" + uuid.NewString()
	last := appendEvents(t, e.client, stream, "test.added", "test.added", "test.added")
	time.Sleep(2 * time.Second) // the subscription delivers them; the hour-long linger holds them
	if got := checkpoint(t, e.pool, "test_counter"); got == last {
		t.Fatal("the batch was committed before its linger ended")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := checkpoint(t, e.pool, "test_counter"); got != last {
		t.Fatalf("checkpoint %d after shutdown, want %d", got, last)
	}
	if n := counts(t, e.pool)[stream]; n != 3 {
		t.Fatalf("applied %d events, want 3", n)
	}
}
