package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Exclusive runs work on exactly one process of a deployment at a time: the holder of a
// Postgres session-level advisory lock, taken on a connection of its own. When the holder
// dies its connection closes and Postgres frees the lock at once; a standby polls for it
// every Poll and takes over. A holder that loses its connection (the lock may then be
// gone) stops its work: it pings the connection every Poll (each ping bounded by 3×Poll,
// lenient on a busy machine), so a standby that takes the lock over waits 5×Poll before it
// starts, by which time the old holder has noticed and cancelled its work; the session's TCP keepalives let Postgres drop
// a vanished holder's session within seconds. A process whose very first try finds the
// lock free starts at once (nobody held it before, as far as it saw).
type Exclusive struct {
	// URL is the Postgres that every contender shares (ARKIV_PG_URL).
	URL string
	// Poll is how often a standby tries the lock and a holder checks its connection
	// (default 1 s).
	Poll time.Duration
	// Log receives "holds"/"standby"/"lost" lines with the lock's name; nil discards.
	Log *slog.Logger
}

// lockKey is the advisory-lock key of a name: 64 bits of FNV-1a over "arkiv:"+name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("arkiv:" + name))
	return int64(h.Sum64())
}

// connect opens a connection of its own (never a pooled one: the lock is the session's)
// with short TCP keepalives, so that Postgres frees the lock of a vanished holder soon.
func (e Exclusive) connect(ctx context.Context, name string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(e.URL)
	if err != nil {
		return nil, err
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = "arkiv-exclusive:" + name
	cc.RuntimeParams["tcp_keepalives_idle"] = "5"
	cc.RuntimeParams["tcp_keepalives_interval"] = "2"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	return pgx.ConnectConfig(ctx, cc)
}

func (e Exclusive) defaults() Exclusive {
	if e.Poll <= 0 {
		e.Poll = time.Second
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	return e
}

// Run runs fn whenever this process holds the lock named name, until ctx ends: it waits
// as a standby while another process holds it, runs fn once it has it, and cancels fn's
// context when its lock connection fails (then waits for fn and contends again). fn
// returning nil while ctx lasts gives the lock up and contends again; fn returning an error
// ends Run with it. Run returns nil when ctx ends.
func (e Exclusive) Run(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	e = e.defaults()
	key := lockKey(name)
	standby, contended := false, false
	for {
		if ctx.Err() != nil {
			return nil
		}
		conn, held, err := e.try(ctx, name, key)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.Log.Warn("exclusive: cannot reach Postgres to contend for the lock; retrying", "lock", name, "err_type", errType(err))
		} else if !held {
			if !standby {
				e.Log.Info("exclusive: another process holds the lock; standing by", "lock", name)
				standby = true
			}
			contended = true
		} else {
			standby = false
			settle := time.Duration(0)
			if contended {
				settle = 5 * e.Poll
			}
			contended = true
			e.Log.Info("exclusive: holding the lock; running", "lock", name, "after", settle.String())
			err := e.hold(ctx, name, conn, settle, fn)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.Poll):
		}
	}
}

// try connects and tries the lock once; it returns the connection holding it, or closes it.
func (e Exclusive) try(ctx context.Context, name string, key int64) (*pgx.Conn, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := e.connect(cctx, name)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(cctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		_ = conn.Close(context.Background())
		return nil, false, err
	}
	if !ok {
		_ = conn.Close(context.Background())
		return nil, false, nil
	}
	return conn, true, nil
}

// hold runs fn, after settle, while conn answers; closing conn frees the lock.
func (e Exclusive) hold(ctx context.Context, name string, conn *pgx.Conn, settle time.Duration, fn func(context.Context) error) error {
	defer conn.Close(context.Background())
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done chan error // nil until fn starts
	start := time.After(settle)
	t := time.NewTicker(e.Poll)
	defer t.Stop()
	for {
		select {
		case <-start:
			start = nil
			done = make(chan error, 1)
			go func() { done <- fn(runCtx) }()
		case err := <-done:
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case <-ctx.Done():
			if done == nil {
				return nil
			}
			<-done
			return nil
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, 3*e.Poll)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				e.Log.Warn("exclusive: lost the lock connection; stopping and contending again", "lock", name, "err_type", errType(err))
				cancel()
				if done != nil {
					<-done
				}
				return nil
			}
		}
	}
}

// Hold takes the lock named name, shared or exclusive, without waiting, and keeps it until
// release is called or the process ends. ok is false when a conflicting holder has it.
func (e Exclusive) Hold(ctx context.Context, name string, shared bool) (release func(), ok bool, err error) {
	e = e.defaults()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := e.connect(cctx, name)
	if err != nil {
		return nil, false, err
	}
	q := "SELECT pg_try_advisory_lock($1)"
	if shared {
		q = "SELECT pg_try_advisory_lock_shared($1)"
	}
	if err := conn.QueryRow(cctx, q, lockKey(name)).Scan(&ok); err != nil || !ok {
		_ = conn.Close(context.Background())
		return nil, false, err
	}
	unlock := "SELECT pg_advisory_unlock($1)"
	if shared {
		unlock = "SELECT pg_advisory_unlock_shared($1)"
	}
	return func() {
		// Unlock before closing: a closed connection's locks go only when its backend
		// notices, so a hold asked for right after the release could still be refused.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, unlock, lockKey(name))
		_ = conn.Close(uctx)
	}, true, nil
}

func errType(err error) string {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return "sqlstate " + pe.SQLState()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "connection"
}
