package esdbserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
)

// The conformance suite drives the official client against the embedded server (each test
// with its own database), or against a real EventStoreDB/KurrentDB when ARKIV_ESDB_TEST_URL
// holds its connection string. Stream names are unique per test so a shared real server
// works too.

// target is what a conformance test talks to.
type target struct {
	client *esdb.Client
	srv    *Server // nil against a real server
}

func realServerURL() string { return os.Getenv("ARKIV_ESDB_TEST_URL") }

// embedded reports whether the test runs against the embedded server.
func (tg *target) embedded() bool { return tg.srv != nil }

func startTarget(t *testing.T) *target {
	t.Helper()
	if u := realServerURL(); u != "" {
		return &target{client: newClient(t, u)}
	}
	srv := startServer(t, Config{})
	return &target{client: newClient(t, srv.ConnectionString()), srv: srv}
}

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.PGURL == "" {
		cfg.PGURL = pgtest.NewDatabase(t)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

func newClient(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatalf("parse connection string: %v", err)
	}
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func streamName(t *testing.T, suffix string) string {
	return fmt.Sprintf("%s-%s-%s", suffix, t.Name(), uuid.NewString()[:8])
}

func event(typ string, data string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(data)}
}

func events(n int, typ string) []esdb.EventData {
	out := make([]esdb.EventData, n)
	for i := range out {
		out[i] = event(typ, fmt.Sprintf(`{"i":%d}`, i))
	}
	return out
}

// readAllOf reads a stream to the end, returning its events or the error.
func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(ctxFor(t), stream, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func errCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func revisions(evs []*esdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.OriginalEvent().EventNumber
	}
	return out
}

func TestAppendAndReadStream(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	s := streamName(t, "order")
	evs := events(3, "order.placed.v1")
	wr, err := c.AppendToStream(ctxFor(t), s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if wr.NextExpectedVersion != 2 || wr.CommitPosition == 0 || wr.CommitPosition != wr.PreparePosition {
		t.Fatalf("write result %+v", wr)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, e := range got {
		re := e.OriginalEvent()
		if re.EventID != evs[i].EventID || re.EventType != "order.placed.v1" || string(re.Data) != string(evs[i].Data) ||
			re.EventNumber != uint64(i) || re.StreamID != s || re.ContentType != "application/json" {
			t.Fatalf("event %d: %+v", i, re)
		}
		if time.Since(re.CreatedDate) > time.Minute || time.Since(re.CreatedDate) < -time.Minute {
			t.Fatalf("created %v", re.CreatedDate)
		}
	}
	if got[2].OriginalEvent().Position.Commit != wr.CommitPosition {
		t.Fatalf("last position %v, append said %d", got[2].OriginalEvent().Position, wr.CommitPosition)
	}
	// Backwards from the end, with a count.
	back, err := readStream(t, c, s, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(back)) != "[2 1]" {
		t.Fatalf("backwards: %v", revisions(back))
	}
	// Forwards from revision 1 includes 1.
	fwd, err := readStream(t, c, s, esdb.ReadStreamOptions{From: esdb.Revision(1)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(fwd)) != "[1 2]" {
		t.Fatalf("from 1: %v", revisions(fwd))
	}
	// Backwards from revision 1.
	bk1, err := readStream(t, c, s, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(bk1)) != "[1 0]" {
		t.Fatalf("backwards from 1: %v", revisions(bk1))
	}
	// A stream that does not exist.
	_, err = readStream(t, c, streamName(t, "missing"), esdb.ReadStreamOptions{}, 10)
	if errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("missing stream: %v", err)
	}
}

func TestReadAllAndSubscribeToAll(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	s := streamName(t, "acct")
	first, err := c.AppendToStream(ctxFor(t), s, esdb.AppendToStreamOptions{}, events(5, "acct.opened.v1")...)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ReadAll(ctxFor(t), esdb.ReadAllOptions{From: esdb.Start{}}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []uint64
	var lastPos uint64
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := ev.OriginalEvent().Position.Commit
		if p <= lastPos {
			t.Fatalf("$all not in order: %d after %d", p, lastPos)
		}
		lastPos = p
		if ev.OriginalEvent().StreamID == s {
			mine = append(mine, ev.OriginalEvent().EventNumber)
		}
	}
	rs.Close()
	if fmt.Sprint(mine) != "[0 1 2 3 4]" {
		t.Fatalf("$all had %v of my stream", mine)
	}
	if lastPos < first.CommitPosition {
		t.Fatalf("$all ended at %d before my append at %d", lastPos, first.CommitPosition)
	}

	// Catch-up from the start, then live, with caught_up in between.
	sub, err := c.SubscribeToAll(ctxFor(t), esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	seen := 0
	caught := false
	for seen < 5 || !caught {
		e := sub.Recv()
		switch {
		case e.SubscriptionDropped != nil:
			t.Fatalf("dropped: %v", e.SubscriptionDropped.Error)
		case e.CaughtUp != nil:
			caught = true
		case e.EventAppeared != nil:
			if e.EventAppeared.OriginalEvent().StreamID == s {
				seen++
			}
		}
	}
	live := events(3, "acct.credited.v1")
	if _, err := c.AppendToStream(ctxFor(t), s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(4)}, live...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			t.Fatalf("dropped: %v", e.SubscriptionDropped.Error)
		}
		if e.EventAppeared == nil || e.EventAppeared.OriginalEvent().StreamID != s {
			continue
		}
		if e.EventAppeared.OriginalEvent().EventID != live[i].EventID {
			t.Fatalf("live event %d: got %v", i, e.EventAppeared.OriginalEvent().EventID)
		}
		i++
	}
}
