package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/console"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/ledger"
)

func consoleScenarios() []Scenario {
	return []Scenario{{Name: "console-first-render", Issue: 22, Run: benchConsole}}
}

// benchConsole starts the whole platform in-process with the console over its GraphQL
// handler, gives an organisation 100,000 audit-log entries (rows of the audit read model,
// written directly: the projection's speed is measured elsewhere), signs in with the Admin's
// API key and a justification as a browser would, and measures the server time to render the
// overview and the first page of the audit log (each page's GraphQL calls included).
func benchConsole(ctx context.Context, env *Env) ([]Result, error) {
	if env.WeaviateURL == "" {
		return nil, fmt.Errorf("ARKIV_WEAVIATE_URL is not set")
	}
	var undo cleanups
	defer undo.run()
	db := func() (string, error) {
		u, drop, err := env.NewDatabase(ctx)
		if err == nil {
			undo.push(drop)
		}
		return u, err
	}
	pgURL, err := db()
	if err != nil {
		return nil, err
	}
	keysURL, err := db()
	if err != nil {
		return nil, err
	}
	esURL, err := db()
	if err != nil {
		return nil, err
	}
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: esURL, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	undo.push(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = es.Close(sctx)
	})
	dir, err := os.MkdirTemp("", "arkiv-bench-console")
	if err != nil {
		return nil, err
	}
	undo.push(func() { _ = os.RemoveAll(dir) })
	skey, vkey, err := ledger.GenerateKey("arkiv.bench/ledger")
	if err != nil {
		return nil, err
	}
	if err := ledger.WriteKeyFile(filepath.Join(dir, "ledger-key"), skey, vkey); err != nil {
		return nil, err
	}
	signing, err := ledger.LoadKeyFile(filepath.Join(dir, "ledger-key"))
	if err != nil {
		return nil, err
	}
	class := "BenchConsole" + uuid.NewString()[:8]
	undo.push(func() { deleteWeaviateClass(env.WeaviateURL, class) })
	p, err := app.Open(ctx, app.Config{PGURL: pgURL, KeystoreURL: keysURL, ESDBURL: es.ConnectionString(),
		WeaviateURL: env.WeaviateURL, SearchClass: class, KEKFile: filepath.Join(dir, "kek.json"), SigningKey: signing,
		LoginKey: bytes.Repeat([]byte{1}, 32), Projections: true, Version: "bench"})
	if err != nil {
		return nil, err
	}
	undo.push(p.Close)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(runCtx) }()
	undo.push(func() { stop(); <-done })

	settings := domain.DefaultOrganizationSettings()
	boot, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Bench",
		AdminEmail: "admin@bench.invalid", AdminName: "Admin", Settings: &settings})
	if err != nil {
		return nil, err
	}
	if err := p.Waiter.WaitFor(ctx, p.Runner.Names(), boot.Position, 60*time.Second); err != nil {
		return nil, err
	}
	entries := env.Size(100_000, 5_000)
	// Positions far above the log's, so the seeded rows are the newest.
	if _, err := p.Pool.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at,
		organization_id, space_id, actor_id, action, target_type, target_id, outcome)
		SELECT gen_random_uuid()::text, 1000000000 + i, 1000000000 + i, now() - make_interval(secs => $2 - i),
		       $1, NULL, $3, (ARRAY['space.created.v1','space.member_added.v1','document.ingested.v1','message.sent.v1'])[1 + i % 4],
		       'space', gen_random_uuid()::text, CASE WHEN i % 50 = 0 THEN 'denied' ELSE 'ok' END
		FROM generate_series(1, $2) AS i`, boot.OrganizationID, entries, boot.AdminUserID); err != nil {
		return nil, fmt.Errorf("seed the audit log: %w", err)
	}
	if _, err := p.Pool.Exec(ctx, `ANALYZE audit_log`); err != nil {
		return nil, err
	}

	// Sign in and give a justification as a browser would, to get the console's cookies.
	con := console.New(console.Config{GraphQL: p.Handler()})
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	mux.Handle("/graphql", p.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	post := func(path string, form url.Values) (string, error) {
		resp, err := client.PostForm(srv.URL+path, form)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return string(b), err
	}
	if _, err := post("/console/sign-in", url.Values{"method": {"apikey"}, "apiKey": {boot.APIKey}}); err != nil {
		return nil, err
	}
	resp, err := client.Get(srv.URL + "/console/audit")
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("the audit page asks for no justification")
	}
	if _, err := post("/console/justify", url.Values{"csrf": {string(m[1])}, "next": {"/console/audit"},
		"justification": {"Benchmark of the console's first render"}}); err != nil {
		return nil, err
	}
	u, _ := url.Parse(srv.URL + "/console/")
	cookies := jar.Cookies(u)

	// Server time: the console's handler, called in-process with the browser's cookies.
	render := func(path, want string) (time.Duration, error) {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		t0 := time.Now()
		con.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			return 0, fmt.Errorf("%s: status %d without %q", path, rec.Code, want)
		}
		return d, nil
	}
	rounds := env.Size(30, 5)
	measure := func(path, want string) (first time.Duration, ds []time.Duration, err error) {
		if first, err = render(path, want); err != nil {
			return 0, nil, err
		}
		for i := 0; i < rounds; i++ {
			d, err := render(path, want)
			if err != nil {
				return 0, nil, err
			}
			ds = append(ds, d)
		}
		return first, ds, nil
	}
	ovFirst, ov, err := measure("/console/", `id="safeguards"`)
	if err != nil {
		return nil, err
	}
	auFirst, au, err := measure("/console/audit", `id="audit"`)
	if err != nil {
		return nil, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	const target = 300 * time.Millisecond
	ovP95, auP95 := Percentile(ov, 95), Percentile(au, 95)
	n := fmt.Sprintf("%d entries", entries)
	return []Result{
		{Metric: "overview first render", Value: ms(ovFirst), Unit: "ms", Target: "<= 300 ms", Met: Met(ovFirst <= target)},
		{Metric: "overview p50", Value: ms(Percentile(ov, 50)), Unit: "ms"},
		{Metric: "overview p95", Value: ms(ovP95), Unit: "ms", Target: "<= 300 ms", Met: Met(ovP95 <= target)},
		{Metric: "audit log first page, first render (" + n + ")", Value: ms(auFirst), Unit: "ms", Target: "<= 300 ms", Met: Met(auFirst <= target)},
		{Metric: "audit log first page p50 (" + n + ")", Value: ms(Percentile(au, 50)), Unit: "ms"},
		{Metric: "audit log first page p95 (" + n + ")", Value: ms(auP95), Unit: "ms", Target: "<= 300 ms", Met: Met(auP95 <= target)},
	}, nil
}
