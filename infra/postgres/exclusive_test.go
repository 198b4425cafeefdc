package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/infra/pgtest"
)

// TestExclusiveRunsOnOneContenderAndFailsOver runs three contenders for one lock: at no
// moment do two run the work; when the holder's session is terminated (as when its process
// dies) another takes over within seconds, and the old holder's work is stopped.
func TestExclusiveRunsOnOneContenderAndFailsOver(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ex := Exclusive{URL: dsn, Poll: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	var holders []int // contender ids in the order they took the work
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ex.Run(ctx, "test-work", func(ctx context.Context) error {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				mu.Lock()
				holders = append(holders, i)
				mu.Unlock()
				<-ctx.Done()
				// Work stops a moment after its context ends: the next holder must not
				// have started before that, or running would exceed 1.
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
				return nil
			})
		}()
	}
	waitHolders := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got := len(holders)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 5 s, %d takeovers; want %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHolders(1)
	time.Sleep(500 * time.Millisecond) // the standbys poll several times meanwhile
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d contenders ran at once", m)
	}
	mu.Lock()
	if len(holders) != 1 {
		t.Fatalf("the work started %d times with one holder alive", len(holders))
	}
	mu.Unlock()

	// Kill the holder's session, as the death of its process does.
	admin, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	start := time.Now()
	var killed int
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
		  AND ((classid::bigint << 32) | objid::bigint) = $1`, lockKey("test-work")).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d sessions held the lock; want 1", killed)
	}
	waitHolders(2)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failover took %s", d)
	}
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d contenders ran at once during the failover", m)
	}
	cancel()
	wg.Wait()
}

// TestExclusiveHoldSharedAndExclusive checks the conflicts of Hold: shared holders coexist,
// an exclusive one is refused while any is held, and a shared one while an exclusive is.
func TestExclusiveHoldSharedAndExclusive(t *testing.T) {
	ex := Exclusive{URL: pgtest.NewDatabase(t)}
	ctx := context.Background()
	r1, ok, err := ex.Hold(ctx, "fanout", true)
	if err != nil || !ok {
		t.Fatalf("first shared hold: ok=%v err=%v", ok, err)
	}
	r2, ok, err := ex.Hold(ctx, "fanout", true)
	if err != nil || !ok {
		t.Fatalf("second shared hold: ok=%v err=%v", ok, err)
	}
	if _, ok, err := ex.Hold(ctx, "fanout", false); err != nil || ok {
		t.Fatalf("exclusive hold beside shared ones: ok=%v err=%v", ok, err)
	}
	r1()
	r2()
	r3, ok, err := ex.Hold(ctx, "fanout", false)
	if err != nil || !ok {
		t.Fatalf("exclusive hold once free: ok=%v err=%v", ok, err)
	}
	defer r3()
	if _, ok, err := ex.Hold(ctx, "fanout", true); err != nil || ok {
		t.Fatalf("shared hold beside an exclusive one: ok=%v err=%v", ok, err)
	}
}
