package engine

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Waiter gives queries read-your-writes: WaitFor returns once the named projections have
// committed a given log position. One Waiter per process holds one Postgres connection that
// LISTENs on NotifyChannel; the runner's checkpoint commits and failures wake the waiters, so
// nothing polls.
type Waiter struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	ready   bool
	pos     map[string]uint64
	failed  map[string]bool
	changed chan struct{} // closed and replaced on every change
}

// NewWaiter returns a Waiter over pool. It starts listening on first use; Close stops it.
func NewWaiter(pool *pgxpool.Pool, logger *slog.Logger) *Waiter {
	if logger == nil {
		logger = slog.Default()
	}
	return &Waiter{pool: pool, log: logger, pos: map[string]uint64{}, failed: map[string]bool{},
		changed: make(chan struct{}), done: make(chan struct{})}
}

// Close stops listening and releases the connection.
func (w *Waiter) Close() {
	w.once.Do(func() { close(w.done) })
	w.mu.Lock()
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// WaitFor returns nil once every projection in names has a checkpoint whose commit position is
// at least position. It fails with KindUnavailable when bound passes first or when one of them
// has stopped on a poison event, and with ctx's error when ctx ends.
func (w *Waiter) WaitFor(ctx context.Context, names []string, position uint64, bound time.Duration) error {
	const op = "engine.WaitFor"
	w.start()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ch, ready := w.changed, w.ready
		satisfied := ready
		var stopped string
		for _, n := range names {
			if !ready {
				break
			}
			if p, ok := w.pos[n]; !ok || p < position {
				satisfied = false
			}
			if w.failed[n] {
				stopped = n
			}
		}
		w.mu.Unlock()
		if satisfied {
			return nil
		}
		if stopped != "" {
			return domain.Errorf(domain.KindUnavailable, op, "projection %s is stopped on a failed event", stopped)
		}
		select {
		case <-ch:
		case <-timer.C:
			return domain.E(domain.KindUnavailable, op, "the read models have not caught up with the write yet; retry shortly")
		case <-ctx.Done():
			return domain.Wrap(domain.KindUnavailable, op, ctx.Err(), "waiting for the read models was cancelled")
		}
	}
}

func (w *Waiter) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return
	}
	select {
	case <-w.done:
		return
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.listen(ctx)
}

// listen keeps one LISTEN connection, reloading all positions after each (re)connect, and
// reconnects until Close with a wait doubling from 50ms up to 5s.
func (w *Waiter) listen(ctx context.Context) {
	wait := &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
	for ctx.Err() == nil {
		err := w.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("projection waiter lost its connection; reconnecting", "err", err)
		select {
		case <-time.After(wait.NextBackOff()):
		case <-ctx.Done():
			return
		}
	}
}

func (w *Waiter) listenOnce(ctx context.Context) error {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	defer func() {
		if ctx.Err() == nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+NotifyChannel)
		} else {
			// The connection may be mid-wait; do not hand it back to the pool listening.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	rows, err := conn.Query(ctx, `SELECT name, commit_position, false FROM projection_checkpoints
UNION ALL SELECT name, -1, true FROM projection_status WHERE state = 'failed'`)
	if err != nil {
		return err
	}
	pos := map[string]uint64{}
	failed := map[string]bool{}
	for rows.Next() {
		var name string
		var c int64
		var f bool
		if err := rows.Scan(&name, &c, &f); err != nil {
			rows.Close()
			return err
		}
		if f {
			failed[name] = true
		} else {
			pos[name] = uint64(c)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	w.pos, w.failed, w.ready = pos, failed, true
	w.broadcastLocked()
	w.mu.Unlock()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		name, val, _, ok := ParseNotification(n.Payload)
		if !ok {
			continue
		}
		w.mu.Lock()
		if val == "failed" {
			w.failed[name] = true
		} else if c, err := strconv.ParseUint(val, 10, 64); err == nil {
			// A rebuild may move a checkpoint; the latest commit wins.
			w.pos[name] = c
			w.failed[name] = false
		}
		w.broadcastLocked()
		w.mu.Unlock()
	}
}

func (w *Waiter) broadcastLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}
