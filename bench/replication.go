package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
)

func replicationScenarios() []Scenario {
	return []Scenario{{Name: "replication-space-query", Issue: 21, Run: benchReplication}}
}

// benchReplication measures what running the API as replicas costs: `arkiv serve`
// processes on one Postgres, event store, Weaviate and NATS — a `--role workers` process,
// one `--role api` process alone (the single process) and two `--role api` replicas —
// answer the authorised `space(id) { members }` query. The worker is apart in both
// variants, so that the comparison is of serving, not of serving beside the projections. Rounds alternate the single process and the two replicas (requests spread round
// robin, as by a load balancer without sticky sessions) at the same offered load, an open
// loop at a fixed rate with latency counted from each request's scheduled time; the figure
// is p99 through the replicas ÷ p99 through the one process. Each variant's closed-loop
// throughput per core used (CPU seconds of its serving processes, not Postgres's) is
// reported beside it: these machines have two cores, so replicas add no capacity here.
func benchReplication(ctx context.Context, env *Env) ([]Result, error) {
	nats := os.Getenv("ARKIV_NATS_URL")
	if env.WeaviateURL == "" || nats == "" {
		return nil, fmt.Errorf("ARKIV_WEAVIATE_URL and ARKIV_NATS_URL must be set (make bench)")
	}
	dir, err := os.MkdirTemp("", "arkiv-bench-repl")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "arkiv")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, "./cmd/arkiv").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	pgURL, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	keysURL, dropKeys, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer dropKeys()
	esURL, dropES, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer dropES()
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: esURL, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = es.Close(sctx)
	}()
	loginKey := bytes.Repeat([]byte{7}, 32)
	kek, signing := filepath.Join(dir, "kek.json"), filepath.Join(dir, "ledger-key")
	if out, err := exec.CommandContext(ctx, exe, "audit", "generate-key", "--out", signing).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("generate the ledger key: %v\n%s", err, out)
	}

	// The organisation, a space and its members, written in-process; the serve processes
	// project them from the log.
	members := env.Size(20, 5)
	p, err := app.Open(ctx, app.Config{PGURL: pgURL, KeystoreURL: keysURL, ESDBURL: es.ConnectionString(),
		WeaviateURL: env.WeaviateURL, KEKFile: kek, LoginKey: loginKey, Version: "bench"})
	if err != nil {
		return nil, err
	}
	settings := domain.DefaultOrganizationSettings()
	boot, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Bench",
		AdminEmail: "admin@bench.invalid", AdminName: "Admin", Settings: &settings})
	if err != nil {
		p.Close()
		return nil, err
	}
	m := func() commands.Meta { return commands.Meta{CommandID: uuid.NewString(), ActorID: boot.AdminUserID} }
	sp, err := p.App.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: m(), Name: "Bench space", Classification: domain.ClassInternal})
	if err != nil {
		p.Close()
		return nil, err
	}
	for i := 0; i < members; i++ {
		u, err := p.App.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: m(), Email: fmt.Sprintf("u%d@bench.invalid", i),
			Name: fmt.Sprintf("Member %d", i), Role: domain.OrgRoleUser})
		if err == nil {
			_, err = p.App.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: m(), SpaceID: sp.ID, UserID: u.ID, Role: domain.SpaceRoleViewer})
		}
		if err != nil {
			p.Close()
			return nil, err
		}
	}
	p.Close()

	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARKIV_") {
			base = append(base, kv)
		}
	}
	base = append(base, "ARKIV_PG_URL="+pgURL, "ARKIV_KEYSTORE_URL="+keysURL, "ARKIV_ESDB_URL="+es.ConnectionString(),
		"ARKIV_WEAVIATE_URL="+env.WeaviateURL, "ARKIV_NATS_URL="+nats, "ARKIV_KEK_FILE="+kek,
		"ARKIV_AUTH_LOGIN_KEY="+hex.EncodeToString(loginKey), "ARKIV_SIGNING_KEY_FILE="+signing)
	if g := os.Getenv("ARKIV_WEAVIATE_GRPC"); g != "" {
		base = append(base, "ARKIV_WEAVIATE_GRPC="+g)
	}
	worker, err := startBenchServe(ctx, exe, base, "workers")
	if err != nil {
		return nil, err
	}
	defer worker.stop()
	single, err := startBenchServe(ctx, exe, base, "api")
	if err != nil {
		return nil, err
	}
	defer single.stop()
	replicas := make([]*benchServe, 2)
	for i := range replicas {
		if replicas[i], err = startBenchServe(ctx, exe, base, "api"); err != nil {
			return nil, err
		}
		defer replicas[i].stop()
	}

	body, _ := json.Marshal(map[string]any{
		"query":     `query($id: ID!) { space(id: $id) { id name members { id role user { id name } } } }`,
		"variables": map[string]any{"id": sp.ID}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	role := []byte(`"role"`)
	call := func(url string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+boot.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) || bytes.Count(b, role) != members+1 {
			return fmt.Errorf("unexpected answer (%d): %.200s", resp.StatusCode, b)
		}
		return nil
	}
	// Every server must answer in full: the workers have projected the space.
	for _, s := range append([]*benchServe{single}, replicas...) {
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := call(s.url)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s (%s) does not answer the query: %v", s.url, s.role, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var rr sync.Mutex
	next := 0
	viaReplicas := func() error {
		rr.Lock()
		s := replicas[next%2]
		next++
		rr.Unlock()
		return call(s.url)
	}
	viaSingle := func() error { return call(single.url) }
	cpuOf := func(ss ...*benchServe) time.Duration {
		var t time.Duration
		for _, s := range ss {
			t += s.cpu()
		}
		return t
	}

	// Capacity first (closed loop, concurrency 16), to choose the offered load: a quarter of
	// what the single process sustains, well below saturation, so that the tail shows what
	// replication adds rather than queueing (the machine is shared; its stalls come and go).
	round := 2 * time.Second
	rounds := 6
	if env.Quick {
		round, rounds = 500*time.Millisecond, 2
	}
	if _, err := load(16, time.Second, round, viaSingle); err != nil {
		return nil, err
	}
	if _, err := load(16, time.Second, round, viaReplicas); err != nil {
		return nil, err
	}
	var capSingle, capReplicas, perCoreSingle, perCoreReplicas []float64
	for i := 0; i < rounds; i++ {
		for _, v := range []struct {
			fn       func() error
			servers  []*benchServe
			cap, per *[]float64
		}{{viaSingle, []*benchServe{single}, &capSingle, &perCoreSingle},
			{viaReplicas, replicas, &capReplicas, &perCoreReplicas}} {
			c0 := cpuOf(v.servers...)
			l, err := load(16, 0, round, v.fn)
			if err != nil {
				return nil, err
			}
			cpu := cpuOf(v.servers...) - c0
			*v.cap = append(*v.cap, float64(len(l))/round.Seconds())
			if cpu > 0 {
				*v.per = append(*v.per, float64(len(l))/cpu.Seconds())
			}
		}
	}
	rate := median(capSingle) / 4

	// The variants alternate in pairs, and so does which goes first, so that neither always
	// follows the other's load. The machine is shared, and a stall of other work lands in one
	// round or the other: the ratio is the median of the pairs' p99 ratios, and the overall
	// percentiles are reported beside it.
	var latSingle, latReplicas []time.Duration
	var pairRatios []float64
	for i := 0; i < 2*rounds; i++ {
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		var p99 [2]time.Duration
		for _, one := range order {
			fn, into, k := viaReplicas, &latReplicas, 1
			if one {
				fn, into, k = viaSingle, &latSingle, 0
			}
			l, err := openLoad(rate, round, fn)
			if err != nil {
				return nil, err
			}
			p99[k] = Percentile(l, 99)
			*into = append(*into, l...)
		}
		pairRatios = append(pairRatios, float64(p99[1])/float64(max(p99[0], 1)))
	}
	p99s, p99r := Percentile(latSingle, 99), Percentile(latReplicas, 99)
	ratio := median(pairRatios)
	name := fmt.Sprintf("space(id) with %d members at %.0f req/s offered", members+1, rate)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return []Result{
		{Metric: name + ": p99 through two API replicas ÷ through one process (median of paired rounds)", Value: ratio, Unit: "ratio", Target: "<= 1.15", Met: Met(ratio <= 1.15)},
		{Metric: name + ": p99 over all rounds, two API replicas ÷ one process", Value: float64(p99r) / float64(max(p99s, 1)), Unit: "ratio"},
		{Metric: name + ": p99 through one process", Value: ms(p99s), Unit: "ms"},
		{Metric: name + ": p99 through two API replicas", Value: ms(p99r), Unit: "ms"},
		{Metric: name + ": p50 through one process", Value: ms(Percentile(latSingle, 50)), Unit: "ms"},
		{Metric: name + ": p50 through two API replicas", Value: ms(Percentile(latReplicas, 50)), Unit: "ms"},
		{Metric: "space(id), concurrency 16: requests/s through one process", Value: median(capSingle), Unit: "req/s"},
		{Metric: "space(id), concurrency 16: requests/s through two API replicas", Value: median(capReplicas), Unit: "req/s"},
		{Metric: "space(id), concurrency 16: requests per CPU-second of the one process", Value: median(perCoreSingle), Unit: "req/core-s"},
		{Metric: "space(id), concurrency 16: requests per CPU-second of the two replicas", Value: median(perCoreReplicas), Unit: "req/core-s"},
	}, nil
}

// openLoad issues calls at a fixed rate for dur, each in its own goroutine, and returns
// their latencies counted from the moment each was due (so a stalled server is not hidden
// by the load generator waiting for it).
func openLoad(rate float64, dur time.Duration, call func() error) ([]time.Duration, error) {
	n := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = call()
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed > n/100 {
		return nil, fmt.Errorf("%d of %d calls failed: %v", failed, n, errs[0])
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, nil
}

// benchServe is an `arkiv serve` child of the benchmark.
type benchServe struct {
	role string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startBenchServe starts `arkiv serve --role role` and waits for its URL.
func startBenchServe(ctx context.Context, exe string, env []string, role string) (*benchServe, error) {
	s := &benchServe{role: role, done: make(chan struct{})}
	s.cmd = exec.Command(exe, "serve", "--role", role, "--listen", "127.0.0.1:0")
	s.cmd.Env = append(append([]string{}, env...), "ARKIV_LOG_LEVEL=info")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	urls := make(chan string, 1)
	var tail []string
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "serving" {
				select {
				case urls <- m.URL:
				default:
				}
			}
			mu.Lock()
			tail = append(tail, sc.Text())
			if len(tail) > 20 {
				tail = tail[1:]
			}
			mu.Unlock()
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case s.url = <-urls:
		return s, nil
	case <-s.done:
	case <-time.After(90 * time.Second):
		s.stop()
	case <-ctx.Done():
		s.stop()
	}
	mu.Lock()
	defer mu.Unlock()
	return nil, fmt.Errorf("arkiv serve --role %s did not start:\n%s", role, strings.Join(tail, "\n"))
}

// cpu is the user and system CPU time the process has used, from /proc.
func (s *benchServe) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ = 100)
}

func (s *benchServe) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
