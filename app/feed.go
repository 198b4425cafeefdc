package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/projections/engine"
)

// feed implements graphql.Feed over the read models: one connection LISTENs on the
// projections' notification channel, every checkpoint commit wakes the subscriptions, and
// each reads what its read model gained after the last position it delivered. Nothing
// polls: an idle platform sends no queries.
type feed struct {
	pool  *pgxpool.Pool
	reads *reads
	log   *slog.Logger

	mu      sync.Mutex
	changed chan struct{}
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newFeed(pool *pgxpool.Pool, r *reads, log *slog.Logger) *feed {
	return &feed{pool: pool, reads: r, log: log, changed: make(chan struct{})}
}

// wait returns a channel closed at the next projection commit, starting the listener on
// first use.
func (f *feed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		f.started = true
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		f.wg.Add(1)
		go f.listen(ctx)
	}
	return f.changed
}

func (f *feed) wake() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *feed) listen(ctx context.Context) {
	defer f.wg.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := f.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("subscription feed lost its connection; reconnecting", "err_type", fmtType(err))
		f.wake() // subscribers re-read, in case they missed a notification
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (f *feed) listenOnce(ctx context.Context) error {
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+engine.NotifyChannel); err != nil {
		return err
	}
	f.wake()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			// A LISTEN connection must not return to the pool.
			_ = conn.Conn().Close(context.Background())
			return err
		}
		f.wake()
	}
}

func (f *feed) close() {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// stream runs a subscription: it waits for commits and sends what next returns after the
// last delivered position, until ctx ends.
func stream[T any](ctx context.Context, f *feed, start int64, next func(ctx context.Context, from int64) ([]T, []int64, error)) <-chan T {
	out := make(chan T, 16)
	go func() {
		defer close(out)
		from := start
		for {
			wake := f.wait()
			items, positions, err := next(ctx, from)
			if err != nil {
				if ctx.Err() == nil {
					f.log.Warn("subscription read failed", "err_type", fmtType(err))
				}
			}
			for i, it := range items {
				select {
				case out <- it:
					from = positions[i]
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Messages implements graphql.Feed.
func (f *feed) Messages(ctx context.Context, orgID, conversationID string) (<-chan *graphql.Message, error) {
	start, err := f.reads.rm.LastMessagePosition(ctx, orgID, conversationID)
	if err != nil {
		return nil, err
	}
	return stream(ctx, f, start, func(ctx context.Context, from int64) ([]*graphql.Message, []int64, error) {
		return f.reads.messagesAfter(ctx, orgID, conversationID, from, 100)
	}), nil
}

// Audit implements graphql.Feed.
func (f *feed) Audit(ctx context.Context, orgID string) (<-chan *graphql.AuditEntry, error) {
	start, err := f.reads.rm.LastAuditPosition(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return stream(ctx, f, int64(start), func(ctx context.Context, from int64) ([]*graphql.AuditEntry, []int64, error) {
		return f.reads.auditAfter(ctx, orgID, from, 100)
	}), nil
}
