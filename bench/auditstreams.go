package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/siem"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/auditstream"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/readmodels"
)

// auditStreamScenarios measure SIEM delivery (issue 21).
func auditStreamScenarios() []Scenario {
	return []Scenario{
		{Name: "audit-streams-throughput", Issue: 21, Run: benchAuditStreamThroughput},
		{Name: "audit-streams-latency", Issue: 21, Run: benchAuditStreamLatency},
	}
}

// hookCounter is a local webhook receiver that counts distinct records (by webhook-id) and
// stamps when each first arrived.
type hookCounter struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	count atomic.Int64
}

func (h *hookCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.Header.Get("webhook-id")
	now := time.Now()
	h.mu.Lock()
	if _, ok := h.seen[id]; !ok {
		h.seen[id] = now
		h.count.Add(1)
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// webhookSecretRef returns a webhook secret and its SealedRef as the audit_streams
// projection stores it, sealed by codec.
func webhookSecretRef(ctx context.Context, codec *keyring.EventCodec, org string) (string, error) {
	secret, err := domain.GenerateWebhookSecret(rand.Reader)
	if err != nil {
		return "", err
	}
	eventID := uuid.NewString()
	b, err := codec.Encode(ctx, eventID, struct {
		Secret domain.Sealed `json:"secret"`
	}{domain.Seal(secret, domain.OrganizationSubject(org))})
	if err != nil {
		return "", err
	}
	var w struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return "", err
	}
	ref, _ := json.Marshal(projections.SealedRef{EventID: eventID, Path: "secret", Envelope: w.Secret})
	return string(ref), nil
}

// addStream inserts a destination as the audit_streams projection would have.
func addStream(ctx context.Context, pool *pgxpool.Pool, org, kind, endpoint, secretRef string) (string, error) {
	id := uuid.NewString()
	var ref any
	if secretRef != "" {
		ref = secretRef
	}
	_, err := pool.Exec(ctx, `INSERT INTO audit_streams (stream_id, organization_id, kind, format, endpoint, include_detail,
			secret, configured_at, configured_by, created_position)
		VALUES ($1, $2, $3, 'OCSF', $4, false, $5::jsonb, now(), $6, 0)`, id, org, kind, endpoint, ref, uuid.NewString())
	return id, err
}

// benchAuditStreamThroughput seeds one organisation's audit log and ledger with 200,000
// entries (20,000 with -quick), as the audit and ledger projections would have written them,
// and measures how fast the forwarder delivers them all, OCSF-encoded: to a local webhook
// (signed, one POST per record) and to NATS JetStream (one acknowledged publish per record,
// ARKIV_NATS_URL), one destination at a time.
func benchAuditStreamThroughput(ctx context.Context, env *Env) ([]Result, error) {
	url, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := postgres.Migrate(ctx, url); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	org := uuid.NewString()
	n := env.Size(200_000, 20_000)
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at, organization_id,
			space_id, actor_id, action, target_type, target_id, outcome, subject)
		SELECT md5(i::text)::uuid::text, i, i, timestamptz '2026-01-01' + i * interval '1 second', $1,
			md5('s' || (i % 50))::uuid::text, md5('u' || (i % 500))::uuid::text,
			CASE i % 4 WHEN 0 THEN 'space.member_role_changed.v1' WHEN 1 THEN 'access.document_viewed.v1'
				WHEN 2 THEN 'access.logged_out.v1' ELSE 'access.denied.v1' END,
			'space', md5('s' || (i % 50))::uuid::text, CASE i % 4 WHEN 3 THEN 'denied' ELSE 'ok' END,
			CASE i % 4 WHEN 0 THEN 'user:' || md5('v' || (i % 500))::uuid::text END
		FROM generate_series(1, $2::bigint) i`, org, n); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO ledger_leaves (idx, event_id, stream, revision, event_type, created, position,
			data_sha256, meta_sha256, leaf_hash, nodes)
		SELECT i - 1, md5(i::text)::uuid, 'space-x', i, 'x', i, i, decode(md5('d' || i) || md5('e' || i), 'hex'),
			decode(md5('m' || i) || md5('n' || i), 'hex'), decode(md5('l' || i) || md5('h' || i), 'hex'), ''::bytea
		FROM generate_series(1, $1::bigint) i`, n); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, commit_position, prepare_position)
		VALUES ('audit', $1, $1), ('ledger', $1, $1)`, n); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return nil, err
	}
	codec := keyring.NewPlainCodec()
	reads := readmodels.New(pool, codec)
	quiet := slog.New(slog.DiscardHandler)
	waiter := engine.NewWaiter(pool, quiet)
	defer waiter.Close()
	sinks := &siem.Sinks{NATSURL: os.Getenv("ARKIV_NATS_URL"), Logger: quiet}
	defer sinks.Close()

	// measure runs a forwarder until the destination has acknowledged every entry.
	measure := func(id string) (float64, float64, error) {
		fw, err := auditstream.New(auditstream.Config{Pool: pool, Reads: reads, Waiter: waiter, Sinks: benchSinks{sinks},
			Logger: quiet, Reconcile: 50 * time.Millisecond})
		if err != nil {
			return 0, 0, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		cpu0 := cpuTime()
		t0 := time.Now()
		go func() { done <- fw.Run(rctx) }()
		deadline := time.Now().Add(10 * time.Minute)
		var took time.Duration
		for {
			m := fw.Metrics()[id]
			if m.Delivered >= uint64(n) {
				took = time.Since(t0)
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				cancel()
				<-done
				return 0, 0, fmt.Errorf("delivered %d of %d records (%d failures)", m.Delivered, n, m.Failed)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cpu := cpuTime() - cpu0
		cancel()
		if err := <-done; err != nil {
			return 0, 0, err
		}
		return float64(n) / took.Seconds(), float64(n) / cpu.Seconds(), nil
	}
	var out []Result
	hooks := &hookCounter{seen: map[string]time.Time{}}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	ref, err := webhookSecretRef(ctx, codec, org)
	if err != nil {
		return nil, err
	}
	hook, err := addStream(ctx, pool, org, domain.AuditStreamWebhook, srv.URL, ref)
	if err != nil {
		return nil, err
	}
	rate, perCPU, err := measure(hook)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if got := hooks.count.Load(); got != int64(n) {
		return nil, fmt.Errorf("the webhook received %d distinct records of %d", got, n)
	}
	out = append(out, Result{Metric: fmt.Sprintf("to a local webhook (%d entries, OCSF, signed)", n), Value: rate, Unit: "events/s",
		Target: ">= 5,000/s", Met: Met(rate >= 5000)},
		Result{Metric: "to a local webhook, per CPU-second of this process (forwarder and receiver)", Value: perCPU, Unit: "events/s"})
	if _, err := pool.Exec(ctx, `UPDATE audit_streams SET removed_at = now() WHERE stream_id = $1`, hook); err != nil {
		return nil, err
	}
	if sinks.NATSURL == "" {
		fmt.Fprintln(os.Stderr, "bench: audit-streams-throughput: ARKIV_NATS_URL not set, JetStream not measured")
		return out, nil
	}
	subject := "bench" + uuid.NewString()[:8]
	js, err := addStream(ctx, pool, org, domain.AuditStreamJetStream, subject, "")
	if err != nil {
		return nil, err
	}
	rate, perCPU, err = measure(js)
	if err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	out = append(out, Result{Metric: fmt.Sprintf("to NATS JetStream (%d entries, OCSF)", n), Value: rate, Unit: "events/s",
		Target: ">= 20,000/s", Met: Met(rate >= 20000)},
		Result{Metric: "to NATS JetStream, per CPU-second of this process (nats-server not counted)", Value: perCPU, Unit: "events/s"})
	return out, nil
}

// benchSinks adapts infra/siem to the forwarder, as app does.
type benchSinks struct{ s *siem.Sinks }

func (b benchSinks) Open(ctx context.Context, t readmodels.AuditStreamTarget) (message.Publisher, string, error) {
	return b.s.Open(ctx, siem.Destination{ID: t.ID, OrganizationID: t.OrganizationID, Kind: t.Kind, Format: t.Format,
		Endpoint: t.Endpoint, Secret: t.Secret, CACertificate: t.CACertificate})
}

// benchAuditStreamLatency appends audit events through the official client to the embedded
// event store at 200 per second for 10 seconds (3 s with -quick), each append on its own
// goroutine, with the audit and ledger projections and the forwarder running, and measures
// the delay from the start of each append to the arrival of its record at a local webhook.
func benchAuditStreamLatency(ctx context.Context, env *Env) ([]Result, error) {
	esURL, dropES, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer dropES()
	url, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := postgres.Migrate(ctx, url); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: esURL, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = es.Close(sctx)
	}()
	cfg, err := esdb.ParseConnectionString(es.ConnectionString())
	if err != nil {
		return nil, err
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	quiet := slog.New(slog.DiscardHandler)
	runner, err := engine.NewRunner(engine.Config{Pool: pool, Log: eventlog.New(client, esdbwatermill.Options{Logger: quiet}),
		Projections: []engine.Projection{projections.NewAudit(), ledgerproj.NewProjection()}, Logger: quiet})
	if err != nil {
		return nil, err
	}
	codec := keyring.NewPlainCodec()
	waiter := engine.NewWaiter(pool, quiet)
	defer waiter.Close()
	sinks := &siem.Sinks{Logger: quiet}
	fw, err := auditstream.New(auditstream.Config{Pool: pool, Reads: readmodels.New(pool, codec), Waiter: waiter,
		Sinks: benchSinks{sinks}, Logger: quiet, Reconcile: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	org, actor := uuid.NewString(), uuid.NewString()
	hooks := &hookCounter{seen: map[string]time.Time{}}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	ref, err := webhookSecretRef(ctx, codec, org)
	if err != nil {
		return nil, err
	}
	id, err := addStream(ctx, pool, org, domain.AuditStreamWebhook, srv.URL, ref)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = runner.Run(rctx) }()
	go func() { defer wg.Done(); _ = fw.Run(rctx) }()
	defer wg.Wait()
	defer cancel()
	// Warm up: one event through the whole path.
	// projected records when both source projections have committed each commit position,
	// from their checkpoint notifications, to split the delay into the projections' part and
	// the forwarder's.
	var pmu sync.Mutex
	type mark struct {
		pos uint64
		at  time.Time
	}
	var marks []mark // when both source projections had passed pos
	lconn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer lconn.Release()
	if _, err := lconn.Exec(ctx, "LISTEN "+engine.NotifyChannel); err != nil {
		return nil, err
	}
	lctx, stopListen := context.WithCancel(ctx)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		last := map[string]uint64{}
		for {
			n, err := lconn.Conn().WaitForNotification(lctx)
			if err != nil {
				return
			}
			var name string
			var c uint64
			if _, err := fmt.Sscanf(n.Payload, "%s %d", &name, &c); err != nil {
				continue
			}
			last[name] = c
			both := min(last[projections.NameAudit], last[ledgerproj.Name])
			pmu.Lock()
			if len(marks) == 0 || marks[len(marks)-1].pos < both {
				marks = append(marks, mark{both, time.Now()})
			}
			pmu.Unlock()
		}
	}()
	defer func() { stopListen(); <-listened }()
	projectedAt := func(pos uint64) (time.Time, bool) {
		pmu.Lock()
		defer pmu.Unlock()
		i := sort.Search(len(marks), func(i int) bool { return marks[i].pos >= pos })
		if i == len(marks) {
			return time.Time{}, false
		}
		return marks[i].at, true
	}
	positions := map[string]uint64{}
	appendOne := func() (string, time.Time, error) {
		eid := uuid.New()
		md, _ := json.Marshal(domain.Metadata{Actor: actor, Organization: org, OccurredAt: time.Now().UTC(), SchemaVersion: 1})
		t0 := time.Now()
		wr, err := client.AppendToStream(ctx, domain.AccessStream(org), esdb.AppendToStreamOptions{}, esdb.EventData{
			EventID: eid, EventType: domain.LoggedOut{}.EventName(), ContentType: esdb.ContentTypeJson,
			Data: fmt.Appendf(nil, `{"userId":%q}`, actor), Metadata: md})
		if err == nil {
			pmu.Lock()
			positions[eid.String()] = wr.CommitPosition
			pmu.Unlock()
		}
		return eid.String(), t0, err
	}
	if _, _, err := appendOne(); err != nil {
		return nil, err
	}
	waitCount := func(want int64, d time.Duration) error {
		deadline := time.Now().Add(d)
		for hooks.count.Load() < want {
			if time.Now().After(deadline) {
				return fmt.Errorf("the webhook received %d of %d records", hooks.count.Load(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	if err := waitCount(1, 30*time.Second); err != nil {
		return nil, err
	}
	_ = id
	dur := time.Duration(env.Size(10, 3)) * time.Second
	const rate = 200
	// Each append runs in its own goroutine, so a slow one does not lower the offered rate.
	sent := map[string]time.Time{}
	var smu sync.Mutex
	var appendErr error
	var appends sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		<-tick.C
		appends.Add(1)
		go func() {
			defer appends.Done()
			eid, t0, err := appendOne()
			smu.Lock()
			defer smu.Unlock()
			if err != nil {
				appendErr = err
				return
			}
			sent[eid] = t0
		}()
	}
	tick.Stop()
	appends.Wait()
	if appendErr != nil {
		return nil, appendErr
	}
	if err := waitCount(int64(len(sent))+1, 60*time.Second); err != nil {
		return nil, err
	}
	var ds, proj, fwd []time.Duration
	hooks.mu.Lock()
	for eid, t0 := range sent {
		at, ok := hooks.seen[eid]
		if !ok {
			hooks.mu.Unlock()
			return nil, errors.New("a record never arrived")
		}
		ds = append(ds, at.Sub(t0))
		pmu.Lock()
		pos := positions[eid]
		pmu.Unlock()
		if pt, ok := projectedAt(pos); ok && !pt.After(at) {
			proj = append(proj, pt.Sub(t0))
			fwd = append(fwd, at.Sub(pt))
		}
	}
	hooks.mu.Unlock()
	p50, p99 := Percentile(ds, 50), Percentile(ds, 99)
	what := fmt.Sprintf("(%d events at %d/s)", len(ds), rate)
	return []Result{
		{Metric: "append → webhook delivery p50 " + what, Value: ms(p50), Unit: "ms"},
		{Metric: "append → webhook delivery p99 " + what, Value: ms(p99), Unit: "ms",
			Target: "<= 100 ms", Met: Met(p99 <= 100*time.Millisecond)},
		{Metric: "of which append → audit and ledger projections committed, p50", Value: ms(Percentile(proj, 50)), Unit: "ms"},
		{Metric: "of which append → audit and ledger projections committed, p99", Value: ms(Percentile(proj, 99)), Unit: "ms"},
		{Metric: "of which projections committed → webhook delivery (forwarder), p50", Value: ms(Percentile(fwd, 50)), Unit: "ms"},
		{Metric: "of which projections committed → webhook delivery (forwarder), p99", Value: ms(Percentile(fwd, 99)), Unit: "ms"},
	}, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
