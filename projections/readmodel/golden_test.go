package readmodel_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/readmodel"
	"github.com/arkiv/arkiv/projections/readmodel/readmodeltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenAndRebuild projects a scripted event stream (written with the plaintext codec, so
// envelopes are deterministic) live, compares every table with testdata/readmodels.golden,
// then rebuilds every projection from the log and checks that the tables are identical.
func TestGoldenAndRebuild(t *testing.T) {
	t.Parallel()
	f := readmodeltest.NewFixture(t)
	readmodeltest.NewScript(f, keyring.NewPlainCodec()).World()
	ps, err := readmodel.All(readmodel.Deps{Streams: f.ES.Store})
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
	live := readmodeltest.Dump(t, f.Ctx, f.Pool, tables)

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
	if rebuilt := readmodeltest.Dump(t, f.Ctx, f.Pool, tables); rebuilt != live {
		t.Errorf("a rebuild changed the tables:\n%s", diffLines(live, rebuilt))
	}
	sts, _, err := r.Status(f.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.State == projections.StateFailed {
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
