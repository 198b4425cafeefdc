package keyring

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
)

// notifyChannel is the LISTEN/NOTIFY channel on which keyrings sharing a key store tell each
// other to drop a subject from their caches; the payload is the subject's canonical form.
const notifyChannel = "arkiv_keyring_invalidate"

// listenBackoff is the wait between reconnections of the listener: 100 ms, doubling up to 5 s.
func listenBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second,
	}
}

// listenLoop keeps a LISTEN connection on the key store and evicts subjects named by
// notifications. While it is down the cache is off (and flushed), so a missed notification
// can never leave a shredded subject's key in use. It reconnects with backoff until ctx ends.
func (k *Keyring) listenLoop(ctx context.Context, ready chan struct{}) {
	defer close(k.done)
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			close(ready)
		}
	}
	defer signal()
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		err := k.listenOnce(ctx, signal)
		k.cache.on.Store(false)
		k.cache.flush()
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(listenBackoff()),
		backoff.WithMaxElapsedTime(0), // forever: until Close
		backoff.WithNotify(func(err error, _ time.Duration) {
			k.log.Warn("keyring: invalidation listener lost its connection; cache off until it is back", "err", err)
			signal() // Open proceeds without a cache rather than hang.
		}),
	)
}

func (k *Keyring) listenOnce(ctx context.Context, ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, k.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Notifications sent before LISTEN took effect are lost: start from an empty cache.
	k.cache.flush()
	k.cache.on.Store(true)
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == "*" {
			k.cache.flush()
			continue
		}
		i := k.stripeOf(n.Payload)
		k.locks[i].Lock()
		k.cache.evict(n.Payload)
		k.locks[i].Unlock()
	}
}
