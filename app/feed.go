package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
)

// feed implements graphql.Feed over the read models: one connection LISTENs on the
// projections' notification channel, a checkpoint commit wakes the subscriptions of the
// organisations it concerns (the notification names them, engine.ParseNotification), and
// each reads what its read model gained after the last position it delivered. Nothing
// polls: an idle platform sends no queries, and one organisation's writes send none for
// another's subscriptions.
type feed struct {
	pool  *pgxpool.Pool
	reads *readmodels.Reader
	log   *slog.Logger

	mu sync.Mutex
	// changed holds, per organisation, a channel closed at the next commit concerning it.
	changed map[string]chan struct{}
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newFeed(pool *pgxpool.Pool, r *readmodels.Reader, log *slog.Logger) *feed {
	return &feed{pool: pool, reads: r, log: log, changed: map[string]chan struct{}{}}
}

// wait returns a channel closed at the next projection commit concerning org, starting the
// listener on first use.
func (f *feed) wait(org string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		f.started = true
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		f.wg.Add(1)
		go f.listen(ctx)
	}
	ch, ok := f.changed[org]
	if !ok {
		ch = make(chan struct{})
		f.changed[org] = ch
	}
	return ch
}

// wake wakes the subscriptions of the organisations orgs names (engine.OrgsAll: every one).
func (f *feed) wake(orgs string) {
	if orgs == engine.OrgsNone {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if orgs == engine.OrgsAll {
		for org, ch := range f.changed {
			close(ch)
			delete(f.changed, org)
		}
		return
	}
	for _, org := range strings.Split(orgs, ",") {
		if ch, ok := f.changed[org]; ok {
			close(ch)
			delete(f.changed, org)
		}
	}
}

// listen keeps a LISTEN connection until ctx ends, reconnecting after 50 ms, then twice as
// long each time up to 5 s.
func (f *feed) listen(ctx context.Context) {
	defer f.wg.Done()
	b := &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		err := f.listenOnce(ctx)
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		f.log.Warn("subscription feed lost its connection; reconnecting", "err_type", fmtType(err))
		f.wake(engine.OrgsAll) // subscribers re-read, in case they missed a notification
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
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
	f.wake(engine.OrgsAll)
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			// A LISTEN connection must not return to the pool.
			_ = conn.Conn().Close(context.Background())
			return err
		}
		if _, _, orgs, ok := engine.ParseNotification(n.Payload); ok {
			f.wake(orgs)
		}
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
// last delivered position (pos tells an item's), until ctx ends.
func stream[T any](ctx context.Context, f *feed, org string, start int64, next func(ctx context.Context, from int64) ([]T, error), pos func(*T) int64) <-chan *T {
	out := make(chan *T, 16)
	go func() {
		defer close(out)
		from := start
		for {
			wake := f.wait(org)
			items, err := next(ctx, from)
			if err != nil {
				if ctx.Err() == nil {
					f.log.Warn("subscription read failed", "err_type", fmtType(err))
				}
			}
			for i := range items {
				select {
				case out <- &items[i]:
					from = pos(&items[i])
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
func (f *feed) Messages(ctx context.Context, orgID, conversationID string) (<-chan *readmodels.Message, error) {
	start, err := f.reads.LastMessagePosition(ctx, orgID, conversationID)
	if err != nil {
		return nil, err
	}
	return stream(ctx, f, orgID, start, func(ctx context.Context, from int64) ([]readmodels.Message, error) {
		return f.reads.MessagesAfter(ctx, orgID, conversationID, from, 100)
	}, func(m *readmodels.Message) int64 { return m.Position }), nil
}

// Audit implements graphql.Feed.
func (f *feed) Audit(ctx context.Context, orgID string) (<-chan *readmodels.AuditEntry, error) {
	start, err := f.reads.LastAuditPosition(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return stream(ctx, f, orgID, int64(start), func(ctx context.Context, from int64) ([]readmodels.AuditEntry, error) {
		return f.reads.AuditAfter(ctx, orgID, uint64(max(from, 0)), 100)
	}, func(e *readmodels.AuditEntry) int64 { return int64(e.Position) }), nil
}
