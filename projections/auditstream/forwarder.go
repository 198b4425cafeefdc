// Package auditstream is the SIEM forwarder: it delivers each organisation's audit entries to
// the destinations its Admins configured (readmodels.AuditStreamTarget), at least once, in
// the destination's format, each record with its ledger leaf. Every destination is a handler
// of one Watermill Router, fed by its own subscriber that reads the audit log after the
// destination's checkpoint (once the audit and ledger projections have taken the entries)
// and published through a Watermill publisher the Sinks give (infra/siem: a signed webhook,
// syslog over TLS, NATS JetStream). Middleware retries with backoff, moves records a
// destination refuses for good to the poison queue, and keeps metrics. A failing destination
// backs off on its own; it never holds up another one or the API.
package auditstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Message metadata the forwarder sets on each record for the publishers.
const (
	// MetaOccurredAt is the entry's time, RFC 3339 with nanoseconds.
	MetaOccurredAt = "arkiv_occurred_at"
	// MetaAction is the entry's action (the event type).
	MetaAction = "arkiv_action"
	// MetaOutcome is ok, denied or failed.
	MetaOutcome = "arkiv_outcome"
	// MetaLeafIndex and MetaLeafHash (base64) are the event's ledger leaf.
	MetaLeafIndex = "arkiv_leaf_index"
	MetaLeafHash  = "arkiv_leaf_hash"
	// MetaFormat is the record's format (domain.AuditFormat*).
	MetaFormat = "arkiv_format"
)

// Permanent marks a delivery error that retrying cannot fix (a webhook answering 4xx):
// the record goes to the poison queue and the destination moves on.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// IsPermanent reports whether err is, or wraps, a *Permanent or an error whose
// Permanent() method reports true (infra/siem's refusals).
func IsPermanent(err error) bool {
	var p *Permanent
	if errors.As(err, &p) {
		return true
	}
	var q interface{ Permanent() bool }
	return errors.As(err, &q) && q.Permanent()
}

// Sinks open the publisher of a destination; infra/siem implements it. Topic is what the
// forwarder passes to Publish (the JetStream subject; the endpoint otherwise).
type Sinks interface {
	Open(ctx context.Context, t readmodels.AuditStreamTarget) (pub message.Publisher, topic string, err error)
}

// Config configures a Forwarder. Pool, Reads, Waiter and Sinks are required.
type Config struct {
	Pool   *pgxpool.Pool
	Reads  *readmodels.Reader
	Waiter *engine.Waiter
	Sinks  Sinks
	Clock  domain.Clock
	Logger *slog.Logger
	// Window is how many records of one destination are in flight at once (default by
	// kind: 1024 for JetStream, whose publishes are acknowledged one by one, 128 for
	// webhooks, 256 for syslog, whose writes are serialised).
	Window int
	// Batch is how many entries one read of the audit log takes (default 1000).
	Batch int
	// Reconcile is how often the destinations are re-read (default 2s).
	Reconcile time.Duration
	// BackoffInitial and BackoffMax bound the wait before a failing destination is tried
	// again (defaults 200ms and 30s); MaxRetries is how often the retry middleware retries a
	// record at once, from RetryInitial (defaults 2 and 50ms).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	MaxRetries     int
	RetryInitial   time.Duration
	// CheckpointEvery bounds how often a destination's checkpoint is written while it
	// delivers (default 200ms); it is always written when the destination goes idle or stops.
	CheckpointEvery time.Duration
}

// Forwarder runs the audit streams.
type Forwarder struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	dests map[string]*destination
	// startErrs is the last error each destination failed to start with.
	startErrs map[string]string

	// through is the log position both the audit and the ledger projections have passed;
	// changed is closed and replaced when it moves.
	thMu    sync.Mutex
	through engine.Position
	changed chan struct{}
}

// New checks cfg and returns a Forwarder.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Pool == nil || cfg.Reads == nil || cfg.Waiter == nil || cfg.Sinks == nil {
		return nil, domain.E(domain.KindInternal, "auditstream.New", "a pool, the read models, a waiter and sinks are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 2000
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = 2 * time.Second
	}
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = 200 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 2
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 50 * time.Millisecond
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 200 * time.Millisecond
	}
	return &Forwarder{cfg: cfg, log: cfg.Logger, dests: map[string]*destination{}, startErrs: map[string]string{},
		changed: make(chan struct{})}, nil
}

// sourceProjections are the projections an entry must have passed to be delivered.
var sourceProjections = []string{projections.NameAudit, ledgerproj.Name}

// Run delivers until ctx ends, then writes every destination's checkpoint and returns.
func (f *Forwarder) Run(ctx context.Context) error {
	const op = "auditstream.Run"
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second},
		watermill.NewSlogLoggerWithLevelMapping(f.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "create router")
	}
	router.AddMiddleware(middleware.Recoverer)
	// A router whose handlers have all stopped closes itself; this one never stops, so
	// destinations can come and go.
	router.AddConsumerHandler("auditstream/keepalive", "keepalive", idle{}, func(*message.Message) error { return nil })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.follow(ctx) }()
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-runErr:
		wg.Wait()
		return domain.Wrap(domain.KindInternal, op, err, "router failed")
	}
	t := time.NewTicker(f.cfg.Reconcile)
	defer t.Stop()
	for {
		if err := f.reconcile(ctx, router); err != nil && ctx.Err() == nil {
			f.log.Warn("audit streams not reconciled", "err", err)
		}
		select {
		case <-ctx.Done():
			_ = router.Close()
			err := <-runErr
			f.mu.Lock()
			for id, d := range f.dests {
				<-d.stopped
				delete(f.dests, id)
			}
			f.mu.Unlock()
			wg.Wait()
			if err != nil {
				return domain.Wrap(domain.KindInternal, op, err, "router failed")
			}
			return nil
		case <-t.C:
		}
	}
}

// follow keeps f.through at the position both source projections have passed.
func (f *Forwarder) follow(ctx context.Context) {
	for ctx.Err() == nil {
		next, even := uint64(0), true
		rows, err := f.cfg.Pool.Query(ctx, `SELECT commit_position, prepare_position FROM projection_checkpoints
			WHERE name = ANY($1) ORDER BY commit_position, prepare_position`, sourceProjections)
		var ps []engine.Position
		if err == nil {
			for rows.Next() {
				var c, p int64
				if err = rows.Scan(&c, &p); err != nil {
					break
				}
				ps = append(ps, engine.Position{Commit: uint64(c), Prepare: uint64(p)})
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil && ctx.Err() == nil {
			f.log.Warn("audit streams cannot read the projections' checkpoints", "err", err)
		}
		if err == nil && len(ps) == len(sourceProjections) {
			pos := ps[0]
			f.thMu.Lock()
			if f.through.Less(pos) {
				f.through = pos
				close(f.changed)
				f.changed = make(chan struct{})
			}
			f.thMu.Unlock()
			next = pos.Commit + 1
			// Two checkpoints within one commit (events appended together): the slower one
			// moves on without its commit position changing, so look again shortly.
			even = ps[0] == ps[len(ps)-1] || ps[0].Commit != ps[len(ps)-1].Commit
		}
		if !even {
			if !sleep(ctx, 5*time.Millisecond) {
				return
			}
			continue
		}
		// Wakes as soon as both have passed next (a checkpoint commit notifies), or after a
		// second.
		_ = f.cfg.Waiter.WaitFor(ctx, sourceProjections, next, time.Second)
	}
}

// projected returns the position both source projections have passed and a channel closed
// when it moves.
func (f *Forwarder) projected() (engine.Position, <-chan struct{}) {
	f.thMu.Lock()
	defer f.thMu.Unlock()
	return f.through, f.changed
}

// reconcile starts a handler for each new or reconfigured destination and stops those
// removed.
func (f *Forwarder) reconcile(ctx context.Context, router *message.Router) error {
	targets, err := f.cfg.Reads.AuditStreamTargets(ctx)
	if err != nil {
		return err
	}
	want := map[string]readmodels.AuditStreamTarget{}
	for _, t := range targets {
		want[t.ID] = t
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, d := range f.dests {
		t, ok := want[id]
		if ok && t.ConfiguredAt.Equal(d.t.ConfiguredAt) && t.Secret == d.t.Secret {
			continue
		}
		d.handler.Stop()
		<-d.stopped
		delete(f.dests, id)
	}
	var added []*destination
	for _, t := range targets {
		if _, ok := f.dests[t.ID]; ok {
			continue
		}
		d, err := f.start(ctx, router, t)
		if err != nil {
			// Shown in auditStreams and `arkiv projections status`; logged once per error.
			msg := err.Error()
			if f.startErrs[t.ID] != msg {
				f.startErrs[t.ID] = msg
				f.log.Warn("audit stream not started", "stream", t.ID, "err", msg)
				st := newState(f, t)
				st.noteErrQuiet(err)
				st.save(ctx, true)
			}
			continue
		}
		delete(f.startErrs, t.ID)
		f.dests[t.ID] = d
		added = append(added, d)
	}
	if len(added) == 0 {
		return nil
	}
	if err := router.RunHandlers(ctx); err != nil {
		// Not subscribed: forget them (the next round tries again).
		for _, d := range added {
			select {
			case <-d.handler.Started():
			default:
				delete(f.dests, d.t.ID)
				_ = d.pub.Close()
			}
		}
		return err
	}
	return nil
}

// idle is a subscriber that delivers nothing until its context ends.
type idle struct{}

func (idle) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (idle) Close() error { return nil }

// Metrics are a destination's counters since the forwarder started.
type Metrics struct {
	Delivered, Failed, Poisoned uint64
}

// Metrics returns the counters of every running destination, by id.
func (f *Forwarder) Metrics() map[string]Metrics {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]Metrics{}
	for id, d := range f.dests {
		out[id] = Metrics{Delivered: d.delivered.Load(), Failed: d.failed.Load(), Poisoned: d.poisoned.Load()}
	}
	return out
}

// destination is one running audit stream.
type destination struct {
	f       *Forwarder
	t       readmodels.AuditStreamTarget
	pub     message.Publisher
	topic   string
	handler *message.Handler
	stopped chan struct{}
	window  int

	delivered, failed, poisoned atomic.Uint64

	errMu   sync.Mutex
	lastErr error
}

func (f *Forwarder) start(ctx context.Context, router *message.Router, t readmodels.AuditStreamTarget) (*destination, error) {
	pub, topic, err := f.cfg.Sinks.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	d := &destination{f: f, t: t, pub: pub, topic: topic, stopped: make(chan struct{}), window: f.cfg.Window}
	if d.window <= 0 {
		switch t.Kind {
		case domain.AuditStreamJetStream:
			d.window = 1024
		case domain.AuditStreamSyslog:
			d.window = 256
		default:
			d.window = 128
		}
	}
	src := &source{d: d, done: d.stopped}
	h := router.AddConsumerHandler("auditstream/"+t.ID, t.ID, src, d.deliver)
	retry := middleware.Retry{
		MaxRetries: f.cfg.MaxRetries, InitialInterval: f.cfg.RetryInitial, MaxInterval: 10 * f.cfg.RetryInitial, Multiplier: 2,
		ShouldRetry: func(p middleware.RetryParams) bool { return !IsPermanent(p.Err) && !errors.Is(p.Err, context.Canceled) },
	}
	poison, err := middleware.PoisonQueueWithFilter(poisonQueue{d}, "auditstream.poison", IsPermanent)
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	// First added runs outermost: metrics see the final outcome, the poison queue what is
	// left after the retries.
	h.AddMiddleware(d.metrics, poison, retry.Middleware)
	d.handler = h
	return d, nil
}

// deliver publishes one record.
func (d *destination) deliver(msg *message.Message) error {
	out := message.NewMessage(msg.UUID, msg.Payload)
	out.Metadata = msg.Metadata
	out.SetContext(msg.Context())
	return d.pub.Publish(d.topic, out)
}

// metrics counts outcomes and keeps the last error for the destination's health.
func (d *destination) metrics(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			d.failed.Add(1)
			d.errMu.Lock()
			d.lastErr = err
			d.errMu.Unlock()
		} else if msg.Metadata.Get(middleware.ReasonForPoisonedKey) == "" {
			d.delivered.Add(1)
		}
		return out, err
	}
}

// poisonQueue is the poison middleware's publisher: it records each refused record in
// audit_stream_poison.
type poisonQueue struct{ d *destination }

func (q poisonQueue) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		reason := m.Metadata.Get(middleware.ReasonForPoisonedKey)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := q.d.f.cfg.Pool.Exec(ctx, `INSERT INTO audit_stream_poison (stream_id, event_id, error, at) VALUES ($1, $2, $3, $4)`,
			q.d.t.ID, m.UUID, reason, q.d.f.cfg.Clock.Now())
		cancel()
		if err != nil {
			return err
		}
		q.d.poisoned.Add(1)
		q.d.errMu.Lock()
		q.d.lastErr = errors.New(reason)
		q.d.errMu.Unlock()
	}
	return nil
}

func (poisonQueue) Close() error { return nil }

// takeErr returns and clears the last error.
func (d *destination) takeErr() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	err := d.lastErr
	d.lastErr = nil
	return err
}

func (d *destination) String() string { return fmt.Sprintf("audit stream %s (%s)", d.t.ID, d.t.Kind) }
