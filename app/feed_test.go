package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/projections/engine"
)

// TestFeedWakesOnlyTheOrganisationsACommitConcerns: a subscription of organisation A reads
// nothing while organisation B's commits are announced (before, every commit woke every
// subscription: one User's 400 subscriptions turned another organisation's 30 writes into
// 12,000 reads), and reads again when a commit names A, or all organisations.
func TestFeedWakesOnlyTheOrganisationsACommitConcerns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := pgtest.NewPool(t)
	f := newFeed(pool, nil, slog.New(slog.DiscardHandler))
	defer f.close()
	var reads atomic.Int64
	const subs = 20
	for range subs {
		stream(ctx, f, "org-a", 0, func(context.Context, int64) ([]int64, error) {
			reads.Add(1)
			return nil, nil
		}, func(p *int64) int64 { return *p })
	}
	settle := func() int64 {
		t.Helper()
		last := int64(-1)
		for n := reads.Load(); n != last; n = reads.Load() {
			last = n
			time.Sleep(300 * time.Millisecond)
		}
		return last
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, engine.NotifyChannel, payload); err != nil {
			t.Fatal(err)
		}
	}
	base := settle()
	if base < subs {
		t.Fatalf("%d reads before any commit, want one per subscription at least", base)
	}
	for i := range 30 {
		notify("readmodel " + time.Now().Format("150405") + string(rune('0'+i%10)) + " org-b")
		notify("audit 9 " + engine.OrgsNone)
	}
	if n := settle(); n != base {
		t.Fatalf("another organisation's 30 commits made A's %d subscriptions read %d times", subs, n-base)
	}
	notify("readmodel 10 org-b,org-a")
	if n := settle(); n != base+subs {
		t.Fatalf("a commit naming A: %d reads, want %d", n-base, subs)
	}
	notify("readmodel 11") // an older notification, without organisations: everyone reads
	if n := settle(); n != base+2*subs {
		t.Fatalf("a commit naming no organisations: %d reads, want %d", n-base-subs, subs)
	}
}
