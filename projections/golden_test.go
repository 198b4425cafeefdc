package projections_test

import (
	"context"
	"errors"
	"flag"
	"github.com/arkiv/arkiv/infra/auth"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenAndRebuild projects a scripted event stream (written with the plaintext codec, so
// envelopes are deterministic) live, compares every table with testdata/readmodels.golden,
// then rebuilds every projection from the log and checks that the tables are identical.
func TestGoldenAndRebuild(t *testing.T) {
	t.Parallel()
	f := apptest.NewFixture(t)
	apptest.NewScript(f, keyring.NewPlainCodec()).World()
	ps, err := projections.All(projections.Deps{Streams: f.ES.Store, Auth: auth.Tables{}})
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, p := range ps {
		tables = append(tables, p.Tables()...)
	}
	r := f.Runner(ps)
	f.Run(r)
	f.WaitHead(r.Names()...)
	live := apptest.Dump(t, f.Ctx, f.Pool, tables)

	golden := filepath.Join("testdata", "readmodels.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(live), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if live != string(want) {
		t.Errorf("tables differ from %s (run with -update after checking the diff):\n%s", golden, diffLines(string(want), live))
	}

	if err := r.RebuildAll(f.Ctx, nil); err != nil {
		t.Fatal(err)
	}
	if rebuilt := apptest.Dump(t, f.Ctx, f.Pool, tables); rebuilt != live {
		t.Errorf("a rebuild changed the tables:\n%s", diffLines(live, rebuilt))
	}
	sts, _, err := r.Status(f.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.State == engine.StateFailed {
			t.Errorf("projection %s failed: %s", s.Name, s.Error)
		}
	}
}

// diffLines lists the lines only in want (-) and only in got (+).
func diffLines(want, got string) string {
	count := map[string]int{}
	for _, l := range splitLines(want) {
		count[l]++
	}
	for _, l := range splitLines(got) {
		count[l]--
	}
	out := ""
	for _, l := range splitLines(want) {
		if count[l] > 0 {
			out += "- " + l + "\n"
			count[l]--
		}
	}
	for _, l := range splitLines(got) {
		if count[l] < 0 {
			out += "+ " + l + "\n"
			count[l]++
		}
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// TestAbortedCommitsChangeNothing aborts the first commit attempt of every batch after its
// rows and checkpoint are written (the crash window between write and checkpoint commit);
// the retried batches must leave exactly the golden tables.
func TestAbortedCommitsChangeNothing(t *testing.T) {
	t.Parallel()
	f := apptest.NewFixture(t)
	apptest.NewScript(f, keyring.NewPlainCodec()).World()
	ps, err := projections.All(projections.Deps{Streams: f.ES.Store, Auth: auth.Tables{}})
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, p := range ps {
		tables = append(tables, p.Tables()...)
	}
	var mu sync.Mutex
	aborted := map[string]bool{}
	r, err := engine.NewRunner(engine.Config{Pool: f.Pool, Log: f.Log, Projections: ps, Logger: apptest.Quiet,
		BatchSize: 7, RetryInitial: time.Millisecond, MaxRetries: 3,
		BeforeCommit: func(_ context.Context, name string, through engine.Position) error {
			mu.Lock()
			defer mu.Unlock()
			key := name + "@" + through.String()
			if aborted[key] {
				return nil
			}
			aborted[key] = true
			return errors.New("injected crash before the checkpoint commit")
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.Run(r)
	f.WaitHead(r.Names()...)
	want, err := os.ReadFile(filepath.Join("testdata", "readmodels.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := apptest.Dump(t, f.Ctx, f.Pool, tables); got != string(want) {
		t.Errorf("aborted commits changed the tables:\n%s", diffLines(string(want), got))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(aborted) < len(ps) {
		t.Fatalf("only %d commits were aborted", len(aborted))
	}
}
