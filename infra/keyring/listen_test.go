package keyring

import (
	"context"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestListenerReconnectsAndKeepsEvicting: when the LISTEN connection drops, the listener
// flushes the cache, reconnects (with backoff) and flushes again, and notifications from
// another keyring reach it afterwards.
func TestListenerReconnectsAndKeepsEvicting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.open(t, f.newPool(t))
	ctx := context.Background()
	u := domain.UserSubject(newID())
	blob, err := f.kr.Seal(ctx, []domain.Subject{u}, []byte("ad"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if f.kr.cache.len() != 1 {
		t.Fatalf("%d keys cached after a seal, want 1", f.kr.cache.len())
	}
	f.kr.cache.mu.Lock()
	gen := f.kr.cache.gen
	f.kr.cache.mu.Unlock()
	// Drop every LISTEN connection on the key store (both keyrings').
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminated %d LISTEN connections: %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.kr.cache.mu.Lock()
		flushed := f.kr.cache.gen >= gen+2 // on loss and again on reconnect
		f.kr.cache.mu.Unlock()
		if flushed && f.kr.cache.on.Load() && other.cache.on.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, cached := f.kr.cache.peek(u.String()); cached {
		t.Fatal("a key survived the listener's reconnection in the cache")
	}
	// Cache the key again, then shred it through the other keyring: the notification over the
	// new connection evicts it.
	if _, err := f.kr.Open(ctx, blob, []byte("ad")); err != nil {
		t.Fatal(err)
	}
	if err := other.StartShredding(ctx, u, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	for {
		if _, cached := f.kr.cache.peek(u.String()); !cached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a shredded subject stayed cached after the listener reconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := f.kr.Open(ctx, blob, []byte("ad")); !domain.Is(domain.KindErased, err) {
		t.Fatalf("open after shredding elsewhere: %v", err)
	}
}
