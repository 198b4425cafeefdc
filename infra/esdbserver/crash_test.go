package esdbserver

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// TestCrashDurability builds the arkiv binary, runs `arkiv eventstore` as a child process,
// appends (acknowledged), kills it with SIGKILL, restarts it on the same database and reads
// every acknowledged event back.
func TestCrashDurability(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("kills the embedded server's process")
	}
	bin := filepath.Join(t.TempDir(), "arkiv")
	build := exec.Command("go", "build", "-o", bin, "github.com/arkiv/arkiv/cmd/arkiv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/arkiv: %v\n%s", err, out)
	}
	db := pgtest.NewDatabase(t)

	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "eventstore", "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "ARKIV_PG_URL="+db, "ARKIV_LOG_LEVEL=warn")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			if sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		select {
		case line, ok := <-lines:
			if !ok || !strings.HasPrefix(line, "esdb://") {
				t.Fatalf("arkiv eventstore printed %q", line)
			}
			return cmd, line
		case <-time.After(30 * time.Second):
			t.Fatal("arkiv eventstore did not start")
		}
		return nil, ""
	}

	cmd, conn := start()
	c := newClient(t, conn)
	ctx := ctxFor(t)
	s := streamName(t, "durable")
	const writers = 8
	acked := make([][]esdb.EventData, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				ev := event("durable.v1", `{"w":1}`)
				if _, err := c.AppendToStream(ctx, s+"-"+string(rune('a'+w)), esdb.AppendToStreamOptions{}, ev); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				acked[w] = append(acked[w], ev)
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// A persistent subscription with events delivered, half of them acknowledged.
	group := groupName(t)
	createGroup(t, c, s+"-a", group, esdb.Start{}, settings(func(st *esdb.PersistentSubscriptionSettings) {
		st.CheckpointLowerBound = 1
		st.CheckpointAfter = 50
	}))
	p := subscribe(t, c, s+"-a", group, 20)
	for i := 0; i < 10; i++ {
		if ev := p.next(t); i < 5 {
			p.ack(t, ev)
		}
	}
	time.Sleep(500 * time.Millisecond)         // a checkpoint after the acks
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no graceful shutdown
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_ = c.Close()

	cmd2, conn := start()
	c2 := newClient(t, conn)
	for w := 0; w < writers; w++ {
		name := s + "-" + string(rune('a'+w))
		got, err := readStream(t, c2, name, esdb.ReadStreamOptions{}, 100)
		if err != nil {
			t.Fatalf("read %s after restart: %v", name, err)
		}
		if len(got) != len(acked[w]) {
			t.Fatalf("%s: %d events after restart, %d acknowledged", name, len(got), len(acked[w]))
		}
		for i, e := range got {
			if e.OriginalEvent().EventID != acked[w][i].EventID {
				t.Fatalf("%s[%d]: id %v, acknowledged %v", name, i, e.OriginalEvent().EventID, acked[w][i].EventID)
			}
		}
	}
	// Every unacknowledged event comes again; acknowledged ones at most from before the
	// last checkpoint.
	p2 := subscribe(t, c2, s+"-a", group, 20)
	for seen := map[uint64]bool{}; len(seen) < 5; {
		ev := p2.next(t)
		rev := ev.Event.OriginalEvent().EventNumber
		if rev < 5 {
			t.Fatalf("acknowledged revision %d delivered again past the checkpoint", rev)
		}
		seen[rev] = true
		p2.ack(t, ev)
	}
	// The restarted server continues the numbering and the global order; SIGTERM stops it
	// gracefully (exit status 0).
	before := readAllEvents(t, c2, esdb.ReadAllOptions{})
	wr, err := c2.AppendToStream(context.Background(), s+"-a", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(9)}, event("durable.v1", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	if last := before[len(before)-1].OriginalEvent().Position.Commit; wr.CommitPosition <= last {
		t.Fatalf("position after restart %d, not after %d", wr.CommitPosition, last)
	}
	if err := cmd2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd2.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("arkiv eventstore after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("arkiv eventstore did not stop on SIGTERM")
	}
}
