package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

const crashPoint = "CRASH-POINT-REACHED"

// TestCrashChild is not a test of its own: TestCrashBetweenWriteAndCommit runs it in a child
// process, which projects until a crash point, announces it and waits to be SIGKILLed.
func TestCrashChild(t *testing.T) {
	mode := os.Getenv("ARKIV_CRASH_MODE")
	if mode == "" {
		t.Skip("runs only as the child of TestCrashBetweenWriteAndCommit")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("ARKIV_CRASH_PG"))
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t, os.Getenv("ARKIV_CRASH_ESDB"))
	announce := func() {
		fmt.Println(crashPoint)
		select {} // wait for SIGKILL
	}
	c := &counter{}
	var commits atomic.Int32
	cfg := engine.Config{Pool: pool, Log: eventlog.New(client, esdbwatermill.Options{}),
		Projections: []engine.Projection{c}, BatchSize: 10}
	switch mode {
	case "before-commit":
		// Rows and checkpoint are written; the transaction is about to commit.
		cfg.BeforeCommit = func(ctx context.Context, name string, through engine.Position) error {
			if commits.Add(1) == 3 {
				announce()
			}
			return nil
		}
	case "mid-batch":
		// Some of the batch's rows are written; the checkpoint is not.
		var applied atomic.Int32
		c.block = func(ev engine.Event) {
			if applied.Add(1) == 25 {
				announce()
			}
		}
	}
	r, err := engine.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Run(ctx)
}

func TestCrashBetweenWriteAndCommit(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"before-commit", "mid-batch"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			streams := map[string]int64{}
			var last uint64
			for i := 0; i < 4; i++ {
				s := "s-" + uuid.NewString()
				streams[s] = 20
				last = appendEvents(t, e.client, s, repeat("test.added", 20)...)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "ARKIV_CRASH_MODE="+mode, "ARKIV_CRASH_PG="+e.pgURL,
				"ARKIV_CRASH_ESDB="+e.srv.ConnectionString())
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			reached := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if strings.Contains(sc.Text(), crashPoint) {
						reached <- true
						return
					}
				}
				reached <- false
			}()
			select {
			case ok := <-reached:
				if !ok {
					_ = cmd.Wait()
					t.Fatal("child exited before reaching the crash point")
				}
			case <-ctx.Done():
				t.Fatal("child never reached the crash point")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			// After the crash the committed state is consistent: exactly the events up to the
			// checkpoint are applied (the in-flight batch left no trace).
			cp := checkpoint(t, e.pool, "test_counter")
			if cp == 0 || cp >= last {
				t.Fatalf("checkpoint after crash %d, want some but not all of %d events committed", cp, last)
			}
			var sum int64
			for _, n := range counts(t, e.pool) {
				sum += n
			}
			if uint64(sum) != cp {
				// Positions are 1, 2, 3, … in the embedded store, so the checkpoint counts events.
				t.Fatalf("after crash %d events applied but the checkpoint is at %d", sum, cp)
			}

			// A restarted runner resumes from the checkpoint with exactly-once effects.
			r, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: e.log,
				Projections: []engine.Projection{&counter{}}, BatchSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			startRunner(t, r)
			w := engine.NewWaiter(e.pool, nil)
			defer w.Close()
			if err := w.WaitFor(ctx, []string{"test_counter"}, last, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			got := counts(t, e.pool)
			for s, want := range streams {
				if got[s] != want {
					t.Errorf("stream %s: %d events applied, want %d", s, got[s], want)
				}
			}
		})
	}
}
