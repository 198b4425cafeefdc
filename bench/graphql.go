package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
)

func graphqlScenarios() []Scenario {
	return []Scenario{{Name: "graphql-space-with-members", Issue: 7, Run: benchGraphQLSpace}}
}

// benchGraphQLSpace starts the whole platform in-process (its own databases, the embedded
// event store, a Weaviate class of its own) behind a loopback HTTP listener and measures an
// authorised `space(id) { members { user } }` query at a fixed concurrency: requests per
// second and p99 latency, side by side with the same read-model calls made directly, and
// the ratio of the two throughputs.
func benchGraphQLSpace(ctx context.Context, env *Env) ([]Result, error) {
	if env.WeaviateURL == "" {
		return nil, fmt.Errorf("ARKIV_WEAVIATE_URL is not set")
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
	dir, err := os.MkdirTemp("", "arkiv-bench-gql")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	class := "BenchGql" + uuid.NewString()[:8]
	defer deleteWeaviateClass(env.WeaviateURL, class)
	p, err := app.Open(ctx, app.Config{PGURL: pgURL, KeystoreURL: keysURL, ESDBURL: es.ConnectionString(),
		WeaviateURL: env.WeaviateURL, SearchClass: class, KEKFile: filepath.Join(dir, "kek.json"),
		LoginKey: bytes.Repeat([]byte{1}, 32), Projections: true, Version: "bench"})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// An organisation, a space and its members.
	members := env.Size(20, 5)
	settings := domain.DefaultOrganizationSettings()
	boot, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Bench",
		AdminEmail: "admin@bench.invalid", AdminName: "Admin", Settings: &settings})
	if err != nil {
		return nil, err
	}
	m := func() commands.Meta { return commands.Meta{CommandID: uuid.NewString(), ActorID: boot.AdminUserID} }
	sp, err := p.App.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: m(), Name: "Bench space", Classification: domain.ClassInternal})
	if err != nil {
		return nil, err
	}
	last := sp.Position
	for i := 0; i < members; i++ {
		u, err := p.App.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: m(), Email: fmt.Sprintf("u%d@bench.invalid", i),
			Name: fmt.Sprintf("Member %d", i), Role: domain.OrgRoleUser})
		if err != nil {
			return nil, err
		}
		r, err := p.App.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: m(), SpaceID: sp.ID, UserID: u.ID, Role: domain.SpaceRoleViewer})
		if err != nil {
			return nil, err
		}
		last = r.Position
	}
	if err := p.Waiter.WaitFor(ctx, p.Runner.Names(), last, 60*time.Second); err != nil {
		return nil, err
	}

	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	q := `query($id: ID!) { space(id: $id) { id name members { id role user { id name } } } }`
	body, _ := json.Marshal(map[string]any{
		"query":     q,
		"variables": map[string]any{"id": sp.ID}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	call := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+boot.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Space *struct {
					Members []struct{ User *struct{ Name string } }
				}
			}
			Errors []json.RawMessage
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if len(out.Errors) > 0 || out.Data.Space == nil || len(out.Data.Space.Members) != members+1 {
			return fmt.Errorf("unexpected answer: %d errors", len(out.Errors))
		}
		return nil
	}
	if err := call(); err != nil {
		return nil, err
	}

	// The baseline: the same read-model queries and field decryption the resolvers run for
	// this query — the caller's space with their role, then its members with their users —
	// called directly, without HTTP, authentication or GraphQL.
	direct := func() error {
		s, err := p.Reads.SpaceOfMember(ctx, boot.OrganizationID, sp.ID, boot.AdminUserID)
		if err != nil || s == nil {
			return fmt.Errorf("space: %v", err)
		}
		ms, err := p.Reads.Members(ctx, boot.OrganizationID, []string{s.ID})
		if err != nil || len(ms[0]) != members+1 || ms[0][0].User == nil || ms[0][0].User.Name == nil {
			return fmt.Errorf("members: %v", err)
		}
		return nil
	}
	if err := direct(); err != nil {
		return nil, err
	}

	// Rounds alternate GraphQL and direct so both see the same machine; figures are medians
	// over the rounds (latency percentiles over all of GraphQL's calls).
	warm, round, rounds := 2*time.Second, 4*time.Second, 3
	if env.Quick {
		warm, round, rounds = 500*time.Millisecond, time.Second, 1
	}
	// The target is met at concurrency 16; 32 is measured alongside to show the knee (the
	// server saturates at about the same rate and latency grows with the queue).
	var results []Result
	for _, concurrency := range []int{16, 32} {
		var gqlRPS, directRPS []float64
		var lat []time.Duration
		for i := 0; i < rounds; i++ {
			w := time.Duration(0)
			if i == 0 {
				w = warm
			}
			l, err := load(concurrency, w, round, call)
			if err != nil {
				return nil, err
			}
			lat = append(lat, l...)
			gqlRPS = append(gqlRPS, float64(len(l))/round.Seconds())
			l, err = load(concurrency, w, round, direct)
			if err != nil {
				return nil, err
			}
			directRPS = append(directRPS, float64(len(l))/round.Seconds())
		}
		rps, base := median(gqlRPS), median(directRPS)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p99, p50 := Percentile(lat, 99), Percentile(lat, 50)
		name := fmt.Sprintf("space(id) with %d members, concurrency %d", members+1, concurrency)
		r := []Result{
			{Metric: name + ": requests/s", Value: rps, Unit: "req/s"},
			{Metric: name + ": p99 latency", Value: float64(p99.Microseconds()) / 1000, Unit: "ms"},
			{Metric: name + ": p50 latency", Value: float64(p50.Microseconds()) / 1000, Unit: "ms"},
			{Metric: name + ": direct read-model calls/s (baseline)", Value: base, Unit: "calls/s"},
			{Metric: name + ": GraphQL ÷ direct throughput", Value: rps / base, Unit: "ratio"},
		}
		if concurrency == 16 {
			r[0].Target, r[0].Met = ">= 2000", Met(rps >= 2000)
			r[1].Target, r[1].Met = "<= 20", Met(p99 <= 20*time.Millisecond)
			r[4].Target, r[4].Met = ">= 0.6", Met(rps/base >= 0.6)
		}
		results = append(results, r...)
	}
	return results, nil
}

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	if n := len(c); n%2 == 0 {
		return (c[n/2-1] + c[n/2]) / 2
	}
	return c[len(c)/2]
}

// load runs call from concurrency workers for warm+dur and returns the latencies of the
// calls made after the warm-up.
func load(concurrency int, warm, dur time.Duration, call func() error) ([]time.Duration, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  atomic.Int64
	)
	start := time.Now()
	measureFrom, deadline := start.Add(warm), start.Add(warm+dur)
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := call()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					failures.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		return nil, fmt.Errorf("%d requests failed", n)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return latencies, nil
}

// deleteWeaviateClass drops a benchmark's collection.
func deleteWeaviateClass(base, class string) {
	req, err := http.NewRequest(http.MethodDelete, base+"/v1/schema/"+class, nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}
