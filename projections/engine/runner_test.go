package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
)

func TestRunnerAppliesInOrderExactlyOnceAndWaitForSeesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		appendEvents(t, e.client, "s-"+uuid.NewString(), repeat("test.added", 50)...)
	}
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{&counter{}}, BatchSize: 17})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	w := engine.NewWaiter(e.pool, nil)
	defer w.Close()

	// Read-your-writes: a new event, then a wait for its position.
	stream := "s-" + uuid.NewString()
	pos := appendEvents(t, e.client, stream, "test.added", "test.added")
	if err := w.WaitFor(context.Background(), []string{"test_counter"}, pos, 10*time.Second); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	c := counts(t, e.pool)
	if c[stream] != 2 {
		t.Fatalf("after WaitFor the new stream has %d events applied, want 2", c[stream])
	}
	var total int64
	for _, n := range c {
		total += n
	}
	if total != 152 {
		t.Fatalf("applied %d events, want 152", total)
	}
	if got := checkpoint(t, e.pool, "test_counter"); got != pos {
		t.Fatalf("checkpoint %d, want %d", got, pos)
	}

	// A position nobody has reached times out within the bound, as Unavailable.
	start := time.Now()
	err = w.WaitFor(context.Background(), []string{"test_counter"}, pos+1_000_000, 150*time.Millisecond)
	if !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("WaitFor beyond the head: %v, want KindUnavailable", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
		t.Fatalf("WaitFor returned after %s, want about the 150ms bound", el)
	}
	// A projection that does not exist never satisfies a wait.
	if err := w.WaitFor(context.Background(), []string{"nope"}, 0, 50*time.Millisecond); !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("WaitFor on an unknown projection: %v", err)
	}
}

func TestRunnerRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := "s-" + uuid.NewString()
	pos := appendEvents(t, e.client, stream, "test.added", "test.flaky", "test.added")
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{&counter{}}, RetryInitial: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	w := engine.NewWaiter(e.pool, nil)
	defer w.Close()
	if err := w.WaitFor(context.Background(), []string{"test_counter"}, pos, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := counts(t, e.pool)[stream]; n != 3 {
		t.Fatalf("applied %d events, want 3", n)
	}
}

// TestDependencyOutageIsNoPoison: an event that fails KindUnavailable for longer than the
// retries (a dependency down) is applied once the dependency is back, in order, instead of
// stopping the projection as poisoned.
func TestDependencyOutageIsNoPoison(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := "s-" + uuid.NewString()
	pos := appendEvents(t, e.client, stream, "test.added", "test.outage", "test.added")
	c := &counter{}
	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log, Projections: []engine.Projection{c}, MaxRetries: 2,
		RetryInitial: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	w := engine.NewWaiter(e.pool, nil)
	defer w.Close()
	if err := w.WaitFor(context.Background(), []string{"test_counter"}, pos, 20*time.Second); err != nil {
		t.Fatalf("the projection did not get past the outage: %v", err)
	}
	if n := counts(t, e.pool)[stream]; n != 3 {
		t.Fatalf("applied %d events, want 3", n)
	}
	if a := c.outage.Load(); a <= 3 {
		t.Fatalf("the outage event was tried %d times: it never outlasted the retries", a)
	}
}

func TestPoisonEventStopsTheProjectionAndIsReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := "s-" + uuid.NewString()
	before := appendEvents(t, e.client, stream, "test.added", "test.added")
	appendEvents(t, e.client, stream, "test.poison")
	last := appendEvents(t, e.client, stream, "test.added")

	r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
		Projections: []engine.Projection{&counter{}}, MaxRetries: 2,
		RetryInitial: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	w := engine.NewWaiter(e.pool, nil)
	defer w.Close()
	err = w.WaitFor(context.Background(), []string{"test_counter"}, last, 10*time.Second)
	if !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("WaitFor past a poison event: %v, want KindUnavailable", err)
	}
	sts, _, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := sts[0]
	if st.State != engine.StateFailed || st.FailedEventType != "test.poison" || st.FailedEventID == nil || st.Error == "" {
		t.Fatalf("status %+v, want failed on the test.poison event", st)
	}
	if st.Checkpoint == nil || st.Checkpoint.Commit != before {
		t.Fatalf("checkpoint %v, want the event before the poison one (%d)", st.Checkpoint, before)
	}
	if st.FailedAt == nil || st.FailedAt.Commit <= before || st.FailedAt.Commit >= last {
		t.Fatalf("failed at %v, want between %d and %d", st.FailedAt, before, last)
	}
	if st.Behind != 2 {
		t.Fatalf("behind %d, want 2 (the poison event and the one after it)", st.Behind)
	}
	// The event after the poison one was not applied: nothing was skipped silently.
	time.Sleep(100 * time.Millisecond)
	if n := counts(t, e.pool)[stream]; n != 2 {
		t.Fatalf("applied %d events, want 2", n)
	}
	if err := stop(); err == nil {
		t.Fatal("Run returned no error although a projection failed")
	}
}
