package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Runner. Pool, Log and Projections are required.
type Config struct {
	// Pool reaches the read-model database, migrated by infra/postgres.
	Pool *pgxpool.Pool
	// Log is the event log to project.
	Log Log
	// Projections are the projections to run; names must be unique.
	Projections []Projection
	// BatchSize is the most events applied in one transaction (default 1000).
	BatchSize int
	// BatchWait bounds how long an event may wait in an open batch while the subscriber still
	// holds more events (default 100ms). A batch is committed at once when the subscriber
	// holds no more events, so a caught-up projection commits each event as it arrives.
	BatchWait time.Duration
	// RebuildBatchSize is the most events a rebuild applies in one transaction (default 10000).
	RebuildBatchSize int
	// MaxRetries is how often a failing batch is retried, with exponential backoff from
	// RetryInitial up to RetryMax, before the projection is stopped as poisoned (defaults 5,
	// 100ms, 5s).
	MaxRetries   int
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Logger receives operational logs; never event payloads. Default: slog.Default().
	Logger *slog.Logger
	// Clock times checkpoints, statuses and batch ages (default domain.SystemClock).
	Clock domain.Clock
	// BeforeCommit, when set, runs inside each batch transaction after the rows and the
	// checkpoint are written, just before COMMIT; an error aborts the batch. It exists for
	// fault-injection tests.
	BeforeCommit func(ctx context.Context, name string, through Position) error
}

// Runner runs projections as handlers of one Watermill Router, each fed by its own catch-up
// subscription that starts after its checkpoint, and rebuilds them on demand.
type Runner struct {
	cfg    Config
	byName map[string]Projection
	log    *slog.Logger
}

// ErrStopped is returned for events offered to a projection that has been stopped after a
// poison event.
var ErrStopped = errors.New("projection stopped after a poison event")

// ApplyError reports the event a projection failed on.
type ApplyError struct {
	Projection string
	Event      Event
	Err        error
}

// Error implements error. It names the event by id, type and position, never its content.
func (e *ApplyError) Error() string {
	return fmt.Sprintf("projection %s: event %s (%s) at %s: %v", e.Projection, e.Event.ID, e.Event.Type, e.Event.Position, e.Err)
}

// Unwrap returns the projection's error.
func (e *ApplyError) Unwrap() error { return e.Err }

// NewRunner checks cfg and returns a Runner.
func NewRunner(cfg Config) (*Runner, error) {
	const op = "engine.NewRunner"
	if cfg.Pool == nil || cfg.Log == nil {
		return nil, domain.E(domain.KindInvalid, op, "a pool and a log are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 100 * time.Millisecond
	}
	if cfg.RebuildBatchSize <= 0 {
		cfg.RebuildBatchSize = 10000
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	} else if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 100 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	r := &Runner{cfg: cfg, byName: map[string]Projection{}, log: cfg.Logger}
	for _, p := range cfg.Projections {
		if p == nil || p.Name() == "" {
			return nil, domain.E(domain.KindInvalid, op, "a projection has no name")
		}
		if _, dup := r.byName[p.Name()]; dup {
			return nil, domain.Errorf(domain.KindInvalid, op, "projection %q registered twice", p.Name())
		}
		r.byName[p.Name()] = p
	}
	return r, nil
}

// Names returns the names of the runner's projections, in registration order.
func (r *Runner) Names() []string {
	names := make([]string, 0, len(r.cfg.Projections))
	for _, p := range r.cfg.Projections {
		names = append(names, p.Name())
	}
	return names
}

// Run runs every projection until ctx is cancelled. A projection that meets a poison event
// (one that still fails after the retries) is stopped and recorded as failed in
// projection_status while the others go on; Run returns an error naming the failed
// projections once all have stopped or ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	const op = "engine.Runner.Run"
	if len(r.cfg.Projections) == 0 {
		<-ctx.Done()
		return nil
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second},
		watermill.NewSlogLoggerWithLevelMapping(r.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "create router")
	}
	workers := make([]*worker, 0, len(r.cfg.Projections))
	for _, p := range r.cfg.Projections {
		w := &worker{r: r, p: p, name: p.Name()}
		if err := w.start(ctx); err != nil {
			return err
		}
		h := router.AddConsumerHandler(w.name, "$all", r.cfg.Log.Subscriber(w.committed), w.handle)
		w.handler = h
		retry := middleware.Retry{
			MaxRetries:      r.cfg.MaxRetries,
			InitialInterval: r.cfg.RetryInitial,
			MaxInterval:     r.cfg.RetryMax,
			Multiplier:      2,
			ShouldRetry: func(p middleware.RetryParams) bool {
				return !errors.Is(p.Err, ErrStopped) && !errors.Is(p.Err, context.Canceled)
			},
			Logger: watermill.NewSlogLogger(r.log),
		}
		// First added runs outermost: poison sees what is left after the retries, and the
		// retries see panics as errors.
		h.AddMiddleware(w.poison, retry.Middleware, middleware.Recoverer)
		workers = append(workers, w)
	}
	stop := context.AfterFunc(ctx, func() { _ = router.Close() })
	defer stop()
	runErr := router.Run(ctx)
	for _, w := range workers {
		w.finish()
	}
	var failed []string
	for _, w := range workers {
		if w.isFailed() {
			failed = append(failed, w.name)
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := setStatus(sctx, r.cfg.Pool, w.name, StateStopped, "", nil, r.cfg.Clock.Now()); err != nil {
			r.log.Warn("projection status not recorded", "projection", w.name, "err", err)
		}
		cancel()
	}
	if runErr != nil {
		return domain.Wrap(domain.KindInternal, op, runErr, "router failed")
	}
	if len(failed) > 0 {
		return domain.Errorf(domain.KindInternal, op, "projections stopped on poison events: %v", failed)
	}
	return nil
}

// worker is the state of one projection's handler. The subscriber delivers one message at a
// time, so handle never runs concurrently with itself; mu guards against the router's
// shutdown path only.
type worker struct {
	r       *Runner
	p       Projection
	name    string
	handler *message.Handler

	mu         sync.Mutex
	committed  *Position // last committed checkpoint known to this worker
	seen       *Position // last event accepted into the batch
	pending    []Event
	batchStart time.Time
	mustFlush  bool
	failed     bool

	// A lingering projection's batch is committed by a timer (see LingeringProjection).
	linger   time.Duration
	ctx      context.Context // Run's, for the timer's commits
	timer    *time.Timer     // armed while a lingering batch waits
	retries  int             // failed timer commits in a row
	retryIn  time.Duration   // the wait before the next timer commit after a failure
	finished bool            // Run has returned: the timer commits nothing more
}

func (w *worker) start(ctx context.Context) error {
	const op = "engine.Runner.Run"
	pos, err := readCheckpoint(ctx, w.r.cfg.Pool, w.name)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "read checkpoint of "+w.name)
	}
	w.committed = pos
	w.ctx = ctx
	if lp, ok := w.p.(LingeringProjection); ok {
		w.linger = lp.Linger()
	}
	if err := setStatus(ctx, w.r.cfg.Pool, w.name, StateRunning, "", nil, w.r.cfg.Clock.Now()); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "record status of "+w.name)
	}
	return nil
}

// finish stops the linger timer for good and commits a lingering batch on the way out
// (one that cannot be committed now is replayed from the checkpoint by the next run).
func (w *worker) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.linger > 0 && !w.failed && len(w.pending) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 5*time.Second)
		defer cancel()
		if err := w.flush(ctx); err != nil {
			w.r.log.Warn("projection batch not committed at shutdown; it is replayed on restart", "projection", w.name, "err", err)
		}
	}
}

func (w *worker) isFailed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

func after(p Position, q *Position) bool { return q == nil || q.Less(p) }

// handle accepts one event into the open batch and commits the batch when it is full, old,
// or the subscriber holds nothing more.
func (w *worker) handle(msg *message.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return ErrStopped
	}
	ev, err := EventFromMessage(msg)
	if err != nil {
		return err
	}
	if !after(ev.Position, w.committed) {
		return nil // already applied: idempotent by position
	}
	if after(ev.Position, w.seen) {
		if len(w.pending) == 0 {
			w.batchStart = w.r.cfg.Clock.Now()
		}
		w.pending = append(w.pending, ev)
		w.seen = &ev.Position
	}
	if w.linger > 0 {
		if !w.mustFlush && len(w.pending) < w.r.cfg.BatchSize {
			if len(w.pending) > 0 && w.timer == nil {
				w.timer = time.AfterFunc(w.linger, w.lingered)
			}
			return nil
		}
	} else if !w.mustFlush && backlogOf(msg) > 0 && len(w.pending) < w.r.cfg.BatchSize &&
		w.r.cfg.Clock.Now().Sub(w.batchStart) < w.r.cfg.BatchWait {
		return nil
	}
	if err := w.flush(msg.Context()); err != nil {
		w.mustFlush = true
		return err
	}
	w.mustFlush = false
	w.disarm()
	return nil
}

// disarm stops the linger timer once nothing is pending and forgets past timer failures.
func (w *worker) disarm() {
	if len(w.pending) == 0 && w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.retries, w.retryIn = 0, 0
}

// lingered commits a lingering projection's batch when its first event has waited long
// enough. A failed commit is retried with the runner's backoff (and by the next event's
// handler, which then commits first); after MaxRetries failures in a row the projection
// is stopped as poisoned, as the handler's retries would.
func (w *worker) lingered() {
	w.mu.Lock()
	w.timer = nil
	if w.failed || w.finished || len(w.pending) == 0 || w.ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	err := w.flush(w.ctx)
	if err == nil {
		w.mustFlush = false
		w.disarm()
		w.mu.Unlock()
		return
	}
	w.mustFlush = true
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	w.retries++
	if w.retries <= w.r.cfg.MaxRetries {
		w.retryIn = min(max(2*w.retryIn, w.r.cfg.RetryInitial), w.r.cfg.RetryMax)
		w.r.log.Warn("projection batch not committed; retrying", "projection", w.name, "err", err, "backoff", w.retryIn)
		w.timer = time.AfterFunc(w.retryIn, w.lingered)
		w.mu.Unlock()
		return
	}
	ev := w.pending[0]
	var ae *ApplyError
	if errors.As(err, &ae) {
		ev = ae.Event
	}
	w.mu.Unlock()
	w.stop(w.ctx, &ev, err)
}

// flush commits the pending events and the checkpoint in one transaction. When the batch
// fails it applies the events one per transaction, committing those before the failing one,
// and returns an *ApplyError for the failing one, which stays pending.
func (w *worker) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	err := w.commit(ctx, w.pending)
	if err == nil || len(w.pending) == 1 {
		return err
	}
	var ae *ApplyError
	if !errors.As(err, &ae) {
		return err
	}
	for len(w.pending) > 0 {
		if err := w.commit(ctx, w.pending[:1]); err != nil {
			return err
		}
	}
	return nil
}

// commit applies evs (a prefix of pending) and the checkpoint in one transaction and drops
// them from pending on success.
func (w *worker) commit(ctx context.Context, evs []Event) error {
	cfg := &w.r.cfg
	tx, err := cfg.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	db, err := lockCheckpoint(ctx, tx, w.name)
	if err != nil {
		return err
	}
	todo := evs
	for len(todo) > 0 && !after(todo[0].Position, db) {
		todo = todo[1:] // committed meanwhile by a rebuild's swap or another runner
	}
	if len(todo) > 0 {
		if err := applyEvents(ctx, tx, w.p, todo); err != nil {
			return err
		}
	}
	last := evs[len(evs)-1].Position
	if !after(last, db) {
		last = *db
	}
	if err := writeCheckpoint(ctx, tx, w.name, last, cfg.Clock.Now(), orgsOf(todo)); err != nil {
		return err
	}
	if cfg.BeforeCommit != nil {
		if err := cfg.BeforeCommit(ctx, w.name, last); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	w.committed = &last
	w.pending = w.pending[len(evs):]
	if len(w.pending) == 0 {
		w.pending = nil
	}
	return nil
}

// applyEvents applies evs through tx, with ApplyBatch when the projection has it. A failure
// is an *ApplyError naming the failing event (the first one for a failed ApplyBatch).
func applyEvents(ctx context.Context, tx pgx.Tx, p Projection, evs []Event) error {
	if bp, ok := p.(BatchProjection); ok && len(evs) > 1 {
		if err := bp.ApplyBatch(ctx, tx, evs); err != nil {
			return &ApplyError{Projection: p.Name(), Event: evs[0], Err: err}
		}
		return nil
	}
	return applyEach(ctx, tx, p, evs)
}

// applyEach applies evs one at a time with Apply.
func applyEach(ctx context.Context, tx pgx.Tx, p Projection, evs []Event) error {
	for _, ev := range evs {
		if err := p.Apply(ctx, tx, ev); err != nil {
			return &ApplyError{Projection: p.Name(), Event: ev, Err: err}
		}
	}
	return nil
}

// poison is the outermost middleware: an error that survived the retries stops the
// projection, records it as failed with the event it failed on, and is returned so that the
// message is nacked, never acked, and no later event is applied.
func (w *worker) poison(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		// A dependency that is down (KindUnavailable: Weaviate, the event store; Postgres
		// itself, the projections' own database, unreachable or restarting) is
		// no poison: the event is fine and applies once the dependency is back, so the
		// projection waits — the retries again, every RetryMax — however long the outage.
		for err != nil && unavailable(err) && !errors.Is(err, ErrStopped) && msg.Context().Err() == nil {
			w.r.log.Warn("projection waiting for a dependency", "projection", w.name, "err", err)
			select {
			case <-msg.Context().Done():
			case <-time.After(w.r.cfg.RetryMax):
			}
			if msg.Context().Err() != nil {
				break
			}
			out, err = h(msg)
		}
		if err == nil || errors.Is(err, ErrStopped) || msg.Context().Err() != nil {
			return out, err
		}
		w.fail(msg, err)
		return out, err
	}
}

func (w *worker) fail(msg *message.Message, cause error) {
	var ev *Event
	var ae *ApplyError
	if errors.As(cause, &ae) {
		ev = &ae.Event
	} else if e, err := EventFromMessage(msg); err == nil {
		ev = &e
	}
	w.stop(msg.Context(), ev, cause)
}

// stop stops the projection on a poison event (ev, when known) and records it as failed.
func (w *worker) stop(ctx context.Context, ev *Event, cause error) {
	w.mu.Lock()
	if w.failed {
		w.mu.Unlock()
		return
	}
	w.failed = true
	w.pending = nil
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()

	attrs := []any{"projection", w.name, "err", cause}
	if ev != nil {
		attrs = append(attrs, "event_id", ev.ID.String(), "event_type", ev.Type, "position", ev.Position.String())
	}
	w.r.log.Error("projection stopped on a poison event", attrs...)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := setStatus(ctx, w.r.cfg.Pool, w.name, StateFailed, cause.Error(), ev, w.r.cfg.Clock.Now()); err != nil {
		w.r.log.Error("projection failure not recorded", "projection", w.name, "err", err)
	}
	w.handler.Stop()
}

// unavailable reports an error of a dependency that is down rather than of the event: a
// KindUnavailable error, or Postgres unreachable, restarting or out of resources (SQLSTATE
// classes 08 and 53, 57P01-57P03), or a broken connection.
func unavailable(err error) bool {
	if domain.Is(domain.KindUnavailable, err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err)
}
