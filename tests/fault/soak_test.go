package fault_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoak runs a mixed load (new spaces and documents, searches, document lists) of 16 clients against
// `arkiv serve` for ARKIV_SOAK (`make soak`: 10m) and reports the slope of serve's resident
// memory and goroutine count after the first minute, and the p99 latency of each operation
// in the first and the last minute. It fails when the goroutines grow by more than 20 % or
// the p99 of the last minute is more than three times the first's (and above 250 ms).
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("ARKIV_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set ARKIV_SOAK (make soak sets 10m)")
	}
	d := deploy(t, "soak", deployOptions{})
	r, err := d.gql(d.adminKey, `mutation { createSpace(input: {name: "soak", classification: "INTERNAL"}) { id } }`, nil)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("createSpace: %v %+v", err, r.Errors)
	}
	var space struct{ ID string }
	_ = json.Unmarshal(r.Data["createSpace"], &space)
	type sample struct {
		at   time.Duration
		op   string
		lat  time.Duration
		err  bool
		code string
	}
	var mu sync.Mutex
	var samples []sample
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	ops := []struct {
		name string
		run  func(i int) (gqlResponse, error)
	}{
		{"createSpace", func(i int) (gqlResponse, error) {
			return d.gql(d.adminKey, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"name": fmt.Sprintf("soak-%d", i), "classification": "INTERNAL"}})
		}},
		{"ingestDocument", func(i int) (gqlResponse, error) {
			return d.gql(d.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"spaceId": space.ID, "title": fmt.Sprintf("Doc %d", i),
					"content": fmt.Sprintf("Record %d of the archive: retention, erasure and the audit of access. ", i)}})
		}},
		{"search", func(i int) (gqlResponse, error) {
			return d.gql(d.adminKey, `query($s: ID!) { search(spaceId: $s, query: "retention audit", limit: 5) { documentId } }`,
				map[string]any{"s": space.ID})
		}},
		// Not spaces: it decrypts and sorts all of the caller's spaces in memory
		// (readmodels.Spaces assumes a user belongs to few), and this Admin creates
		// thousands, so its latency grows with the soak by design.
		{"documents", func(i int) (gqlResponse, error) {
			return d.gql(d.adminKey, `query($s: ID!) { documents(spaceId: $s, first: 20) { edges { node { id title } } } }`,
				map[string]any{"s": space.ID})
		}},
	}
	var wg sync.WaitGroup
	for w := 0; w < writersN; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil; i++ {
				op := ops[rng.IntN(len(ops))]
				t0 := time.Now()
				r, err := op.run(w*1_000_000 + i)
				s := sample{at: t0.Sub(start), op: op.name, lat: time.Since(t0), err: err != nil || len(r.Errors) > 0, code: r.code()}
				if err != nil {
					s.code = "transport"
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
		}()
	}
	// Sample serve's RSS every 5 s; its goroutines come from its runtime-stats log lines.
	type point struct {
		at time.Duration
		v  float64
	}
	var rss []point
	tick := time.NewTicker(5 * time.Second)
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case <-tick.C:
			if kb, ok := rssKB(d.serve.cmd.Process.Pid); ok {
				rss = append(rss, point{time.Since(start), float64(kb) / 1024})
			}
		}
	}
	tick.Stop()
	wg.Wait()
	var gor []point
	sc := bufio.NewScanner(strings.NewReader(d.serve.output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Time       time.Time `json:"time"`
			Msg        string    `json:"msg"`
			Goroutines float64   `json:"goroutines"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "runtime stats" && l.Time.After(start) {
			gor = append(gor, point{l.Time.Sub(start), l.Goroutines})
		}
	}
	slope := func(ps []point) (perMin, first, last float64) {
		var xs, ys []float64
		for _, p := range ps {
			if p.at >= time.Minute || dur < 2*time.Minute {
				xs, ys = append(xs, p.at.Minutes()), append(ys, p.v)
			}
		}
		if len(xs) < 2 {
			return 0, 0, 0
		}
		var mx, my float64
		for i := range xs {
			mx += xs[i]
			my += ys[i]
		}
		mx /= float64(len(xs))
		my /= float64(len(ys))
		var num, den float64
		for i := range xs {
			num += (xs[i] - mx) * (ys[i] - my)
			den += (xs[i] - mx) * (xs[i] - mx)
		}
		return num / den, ys[0], ys[len(ys)-1]
	}
	rssSlope, rss0, rss1 := slope(rss)
	gSlope, g0, g1 := slope(gor)
	window := min(time.Minute, dur/4)
	p99 := func(op string, from, to time.Duration) (time.Duration, int) {
		var ls []time.Duration
		for _, s := range samples {
			if s.op == op && s.at >= from && s.at < to && !s.err {
				ls = append(ls, s.lat)
			}
		}
		if len(ls) == 0 {
			return 0, 0
		}
		slices.Sort(ls)
		return ls[min(len(ls)-1, len(ls)*99/100)], len(ls)
	}
	errs, codes := 0, map[string]int{}
	for _, s := range samples {
		if s.err {
			errs++
			codes[s.op+":"+s.code]++
		}
	}
	report := fmt.Sprintf("soak %s, %d operations (%d failed: %v): RSS %.0f → %.0f MiB (slope %+.2f MiB/min), goroutines %.0f → %.0f (slope %+.2f/min)",
		dur, len(samples), errs, codes, rss0, rss1, rssSlope, g0, g1, gSlope)
	for _, op := range ops {
		first, n0 := p99(op.name, 0, window)
		last, n1 := p99(op.name, dur-window, dur)
		report += fmt.Sprintf("; %s p99 %s (n=%d) → %s (n=%d)", op.name, first.Round(time.Millisecond), n0, last.Round(time.Millisecond), n1)
		if last > 3*first && last > 250*time.Millisecond {
			t.Errorf("%s: p99 grew from %s in the first minute to %s in the last", op.name, first, last)
		}
	}
	t.Log(report)
	if err := os.WriteFile(logDir+"/soak-report.txt", []byte(report+"\n"), 0o644); err != nil {
		t.Log(err)
	}
	if g0 > 0 && g1 > g0*1.2 && g1-g0 > 20 {
		t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
	}
	if errs > len(samples)/100 {
		t.Errorf("%d of %d operations failed", errs, len(samples))
	}
}

// rssKB reads a process's resident set size from /proc.
func rssKB(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, err := strconv.Atoi(f[1])
				return n, err == nil
			}
		}
	}
	return 0, false
}
