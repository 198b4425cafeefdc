package eventstore_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// TestReconnectsAfterLongOutage reproduces the event store going away for longer than the
// official client's discovery window (about a second), after which the client answers
// ConnectionClosed for good: the Store must reconnect by itself once the server is back.
func TestReconnectsAfterLongOutage(t *testing.T) {
	t.Parallel()
	pg := pgtest.NewDatabase(t)
	ctx := ctxT(t)
	srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pg, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.ConnectionString()
	host := srv.Addr()
	st, err := eventstore.Open(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stream := "test-" + uuid.NewString()
	if _, err := st.Append(ctx, stream, domain.NoStream, proposed(1, "before")); err != nil {
		t.Fatal(err)
	}
	first := st.Client()

	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// While it is down, every call fails as UNAVAILABLE, never anything else, and the
	// client gives up (ConnectionClosed) once its discovery attempts run out.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := st.Append(cctx, stream, 0, proposed(1, "during"))
		cancel()
		if err == nil {
			t.Fatal("an append succeeded with the server down")
		}
		if !domain.Is(domain.KindUnavailable, err) {
			t.Fatalf("during the outage: want UNAVAILABLE, got %v (%s)", err, domain.KindOf(err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Client() == first {
		t.Fatal("the client that gave up was never renewed")
	}

	// The server comes back on the same address.
	var srv2 *esdbserver.Server
	for i := 0; ; i++ {
		srv2, err = esdbserver.Start(ctx, esdbserver.Config{PGURL: pg, Listen: host})
		if err == nil {
			break
		}
		var op *net.OpError
		if i > 50 || !errors.As(err, &op) {
			t.Fatalf("restart on %s: %v", host, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer srv2.Close(context.Background())

	back := time.Now().Add(15 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := st.Append(cctx, stream, 0, proposed(1, "after"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(back) {
			t.Fatalf("no append succeeded within 15 s of the server's return: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs, rev, err := st.Load(ctx, stream)
	if err != nil || len(evs) != 2 || rev != 1 {
		t.Fatalf("after the outage: %d events, rev %d, %v (nothing may be half-written)", len(evs), rev, err)
	}
}
