package esdbwatermill_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
)

// encode keeps what the test checks: the event type and commit position.
func encode(r *esdb.RecordedEvent, backlog int) *message.Message {
	msg := message.NewMessage(r.EventID.String(), r.Data)
	msg.Metadata["type"] = r.EventType
	msg.Metadata["commit"] = strconv.FormatUint(r.Position.Commit, 10)
	return msg
}

func startServer(t *testing.T, ctx context.Context, pgURL, listen string) *esdbserver.Server {
	t.Helper()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pgURL, Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

func newClient(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging() // the reconnects would fill the test log
	client, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// appendOne appends one event of type typ, retrying while the client reconnects.
func appendOne(t *testing.T, ctx context.Context, c *esdb.Client, typ string) uint64 {
	t.Helper()
	for {
		res, err := c.AppendToStream(ctx, "s-"+uuid.NewString(), esdb.AppendToStreamOptions{},
			esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)})
		if err == nil {
			return res.CommitPosition
		}
		if ctx.Err() != nil {
			t.Fatalf("append %s: %v", typ, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receive returns the next message, acked or nacked.
func receive(t *testing.T, ctx context.Context, ch <-chan *message.Message, ack bool) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("subscription channel closed")
		}
		if ack {
			msg.Ack()
		} else {
			msg.Nack()
		}
		return msg
	case <-ctx.Done():
		t.Fatal("no message arrived")
		return nil
	}
}

// TestSubscriberRedeliversNackedAndResumesAfterServerRestart: a nacked message comes again;
// when the event store goes away, the subscriber keeps reconnecting with backoff and, once
// it is back, resumes after the last acked event, with nothing lost or delivered twice.
func TestSubscriberRedeliversNackedAndResumesAfterServerRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pgURL := pgtest.NewDatabase(t)
	srv := startServer(t, ctx, pgURL, "127.0.0.1:0")
	addr := srv.Addr()
	client := newClient(t, srv.ConnectionString())

	first := appendOne(t, ctx, client, "test.first")
	sub := esdbwatermill.NewSubscriber(client, nil, encode,
		esdbwatermill.Options{BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(ctx, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ctx, ch, false); m.Metadata["type"] != "test.first" {
		t.Fatalf("first message is %s", m.Metadata["type"])
	}
	if m := receive(t, ctx, ch, true); m.Metadata["type"] != "test.first" || m.Metadata["commit"] != strconv.FormatUint(first, 10) {
		t.Fatalf("nacked message not delivered again: got %s at %s", m.Metadata["type"], m.Metadata["commit"])
	}

	// The store goes away for a while; the subscriber retries, then resumes.
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	if err := srv.Close(cctx); err != nil {
		t.Fatal(err)
	}
	ccancel()
	time.Sleep(300 * time.Millisecond) // several reconnect attempts fail meanwhile
	startServer(t, ctx, pgURL, addr)
	second := appendOne(t, ctx, client, "test.second")
	m := receive(t, ctx, ch, true)
	if m.Metadata["type"] != "test.second" || m.Metadata["commit"] != strconv.FormatUint(second, 10) {
		t.Fatalf("after the restart got %s at %s, want test.second at %d", m.Metadata["type"], m.Metadata["commit"], second)
	}
	third := appendOne(t, ctx, client, "test.third")
	if m := receive(t, ctx, ch, true); m.Metadata["type"] != "test.third" || m.Metadata["commit"] != strconv.FormatUint(third, 10) {
		t.Fatalf("got %s at %s, want test.third", m.Metadata["type"], m.Metadata["commit"])
	}
}

// TestReadPagesAndHead: Read pages through $all after a position and Head
// names the last non-system event.
func TestReadPagesAndHead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := startServer(t, ctx, pgtest.NewDatabase(t), "127.0.0.1:0")
	client := newClient(t, srv.ConnectionString())
	l := esdbwatermill.NewLog(client, esdbwatermill.Options{})
	if h, err := l.Head(ctx); err != nil || h != nil {
		t.Fatalf("head of an empty log %v, %v", h, err)
	}
	var want []uint64
	for i := range 5 {
		want = append(want, appendOne(t, ctx, client, "test.n"+strconv.Itoa(i)))
	}
	var got []uint64
	var at *esdb.Position
	for {
		pg, err := l.Read(ctx, at, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Events {
			got = append(got, r.Position.Commit)
		}
		if pg.End || pg.Last == nil {
			break
		}
		at = pg.Last
	}
	if len(got) != len(want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("read %v, want %v", got, want)
		}
	}
	h, err := l.Head(ctx)
	if err != nil || h == nil || h.Commit != want[len(want)-1] {
		t.Fatalf("head %v, %v; want commit %d", h, err, want[len(want)-1])
	}
	if _, err := l.Read(ctx, nil, 0); err == nil {
		t.Fatal("Read with max 0 succeeded")
	}
}

// TestSubscriberOutlivesTheClientGivingUp: an outage longer than the official client's
// discovery window (about a second) closes the client for good; a subscriber over an
// eventstore.Store renews it and resumes once the store is back.
func TestSubscriberOutlivesTheClientGivingUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pgURL := pgtest.NewDatabase(t)
	srv := startServer(t, ctx, pgURL, "127.0.0.1:0")
	addr := srv.Addr()
	store, err := eventstore.OpenWithLog(srv.ConnectionString(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	sub := esdbwatermill.NewLogFrom(store, esdbwatermill.Options{BackoffInitial: 50 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}).Subscriber(nil, encode)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(ctx, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	first := appendOne(t, ctx, store.Client(), "test.first")
	if m := receive(t, ctx, ch, true); m.Metadata["commit"] != strconv.FormatUint(first, 10) {
		t.Fatalf("first: %v", m.Metadata)
	}
	gaveUp := store.Client()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	if err := srv.Close(cctx); err != nil {
		t.Fatal(err)
	}
	ccancel()
	time.Sleep(3 * time.Second) // far past the client's ten discovery attempts
	if store.Client() == gaveUp {
		t.Fatal("the subscriber never renewed the client that gave up")
	}
	startServer(t, ctx, pgURL, addr)
	second := appendOne(t, ctx, store.Client(), "test.second")
	if m := receive(t, ctx, ch, true); m.Metadata["type"] != "test.second" || m.Metadata["commit"] != strconv.FormatUint(second, 10) {
		t.Fatalf("after the outage got %s at %s, want test.second at %d", m.Metadata["type"], m.Metadata["commit"], second)
	}
}
