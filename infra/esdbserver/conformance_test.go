package esdbserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	// The clients here decode read responses as Arkiv's own do; esdbcodec's tests compare
	// that decoder with the standard one.
	_ "github.com/arkiv/arkiv/infra/esdbcodec"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
	cfg.DefaultUsers = true // as a real server
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
	cfg.Logger = esdb.NoopLogging()
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

// subscriptionEvents collects what a subscription yields until stop returns true.
func recvUntil(t *testing.T, sub *esdb.Subscription, stop func(e *esdb.SubscriptionEvent) bool) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(20*time.Second, func() {
		select {
		case <-done:
		default:
			t.Errorf("subscription: timed out")
			_ = sub.Close()
		}
	})
	defer timer.Stop()
	defer close(done)
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			t.Fatalf("subscription dropped: %v", e.SubscriptionDropped.Error)
		}
		if stop(e) {
			return
		}
	}
}

func TestGetSupportedMethods(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	if !tg.embedded() {
		t.Skip("checks the embedded server's announcement")
	}
	conn, err := grpc.NewClient(tg.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m, err := serverfeatures.NewServerFeaturesClient(conn).GetSupportedMethods(ctxFor(t), &shared.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(m.EventStoreServerVersion, ".")
	if len(parts) != 3 {
		t.Fatalf("version %q", m.EventStoreServerVersion)
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("version %q not numeric", m.EventStoreServerVersion)
		}
	}
	found := map[string]bool{}
	for _, mm := range m.Methods {
		found[mm.ServiceName+"/"+mm.MethodName] = true
	}
	for _, want := range []string{"event_store.client.streams.streams/append", "event_store.client.streams.streams/read"} {
		if !found[want] {
			t.Fatalf("methods lack %s: %v", want, found)
		}
	}
}

func TestExpectedRevisions(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "exp")
	wev := func(err error, what string) {
		t.Helper()
		if errCode(err) != esdb.ErrorCodeWrongExpectedVersion {
			t.Fatalf("%s: want wrong expected version, got %v", what, err)
		}
	}
	// stream_exists on a missing stream fails; revision 0 on a missing stream fails.
	_, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, event("e", "{}"))
	wev(err, "stream_exists on missing")
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, event("e", "{}"))
	wev(err, "revision 0 on missing")
	// no_stream creates it; a second no_stream fails, with many events in the request (the
	// server must read them all before answering, or the client would see EOF).
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("e", "{}")); err != nil {
		t.Fatal(err)
	}
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events(50, "e")...)
	wev(err, "no_stream on existing")
	// revision n holds only at n.
	wr, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, events(2, "e")...)
	if err != nil || wr.NextExpectedVersion != 2 {
		t.Fatalf("revision 0: %v %+v", err, wr)
	}
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, event("e", "{}"))
	wev(err, "stale revision")
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(7)}, event("e", "{}"))
	wev(err, "future revision")
	// any and stream_exists succeed on an existing stream.
	if wr, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, event("e", "{}")); err != nil || wr.NextExpectedVersion != 3 {
		t.Fatalf("any: %v %+v", err, wr)
	}
	if wr, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, event("e", "{}")); err != nil || wr.NextExpectedVersion != 4 {
		t.Fatalf("stream_exists: %v %+v", err, wr)
	}
	// any on a missing stream creates it.
	if wr, err = c.AppendToStream(ctx, streamName(t, "any"), esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, event("e", "{}")); err != nil || wr.NextExpectedVersion != 0 {
		t.Fatalf("any on missing: %v %+v", err, wr)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || fmt.Sprint(revisions(got)) != "[0 1 2 3 4]" {
		t.Fatalf("stream: %v %v", revisions(got), err)
	}
}

func TestIdempotentAppend(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "idem")
	batch := events(3, "e")
	first, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, batch...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, batch...)
	if err != nil {
		t.Fatalf("retry at no_stream: %v", err)
	}
	if again.NextExpectedVersion != first.NextExpectedVersion {
		t.Fatalf("retry says revision %d, first %d", again.NextExpectedVersion, first.NextExpectedVersion)
	}
	next := events(2, "e")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(2)}, next...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(2)}, next...); err != nil {
		t.Fatalf("retry at revision 2: %v", err)
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, next...); err != nil {
		t.Fatalf("retry with any: %v", err)
	}
	// Different ids at the same expected revision are a conflict, not a retry.
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(2)}, events(2, "e")...)
	if errCode(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("different ids at revision 2: %v", err)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || len(got) != 5 {
		t.Fatalf("stream has %d events (%v), want 5", len(got), err)
	}
	for i, want := range append(batch, next...) {
		if got[i].OriginalEvent().EventID != want.EventID {
			t.Fatalf("event %d id %v, want %v", i, got[i].OriginalEvent().EventID, want.EventID)
		}
	}
}

func TestReadAllDirectionsAndPositions(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "pos")
	var pos []esdb.Position
	for i := 0; i < 4; i++ {
		wr, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition})
	}
	collect := func(opts esdb.ReadAllOptions, count uint64) []uint64 {
		t.Helper()
		rs, err := c.ReadAll(ctx, opts, count)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []uint64
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Commit == nil || *ev.Commit != ev.OriginalEvent().Position.Commit {
				t.Fatalf("$all event without its commit position")
			}
			if ev.OriginalEvent().StreamID == s {
				out = append(out, ev.OriginalEvent().EventNumber)
			}
		}
	}
	// Forwards from a position includes it.
	if got := collect(esdb.ReadAllOptions{From: pos[1]}, 1000); fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("forwards from pos[1]: %v", got)
	}
	// Backwards from the end.
	if got := collect(esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1000); fmt.Sprint(got[:4]) != "[3 2 1 0]" {
		t.Fatalf("backwards from end: %v", got)
	}
	// Backwards from a position.
	got := collect(esdb.ReadAllOptions{Direction: esdb.Backwards, From: pos[2]}, 1000)
	if len(got) < 2 || fmt.Sprint(got[:2]) != "[1 0]" {
		t.Fatalf("backwards from pos[2]: %v", got)
	}
	// Counts limit.
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, err := rs.Recv(); err != nil {
			break
		}
		n++
	}
	rs.Close()
	if n != 2 {
		t.Fatalf("count 2 read %d", n)
	}
}

func TestSubscribeToStream(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "sub")
	// A subscription to a stream that does not exist yet is confirmed and waits.
	waiting, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	evs := events(5, "e")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, evs[:3]...); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	recvUntil(t, waiting, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil {
			got = append(got, e.EventAppeared.OriginalEvent().EventNumber)
		}
		return len(got) == 3
	})
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("waiting subscription: %v", got)
	}
	// From revision 1 is exclusive: 2, then live 3, 4.
	from1, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: esdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer from1.Close()
	// From the end sees only what comes later.
	fromEnd, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer fromEnd.Close()
	got = nil
	caught := false
	recvUntil(t, from1, func(e *esdb.SubscriptionEvent) bool {
		if e.CaughtUp != nil {
			caught = true
		}
		if e.EventAppeared != nil {
			got = append(got, e.EventAppeared.OriginalEvent().EventNumber)
		}
		return caught
	})
	if fmt.Sprint(got) != "[2]" {
		t.Fatalf("from revision 1 before live: %v", got)
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(2)}, evs[3:]...); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, from1, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil {
			got = append(got, e.EventAppeared.OriginalEvent().EventNumber)
		}
		return len(got) == 3
	})
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("from revision 1: %v", got)
	}
	var endGot []uint64
	recvUntil(t, fromEnd, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil {
			endGot = append(endGot, e.EventAppeared.OriginalEvent().EventNumber)
		}
		return len(endGot) == 2
	})
	if fmt.Sprint(endGot) != "[3 4]" {
		t.Fatalf("from end: %v", endGot)
	}
}

func TestSubscribeToAllStartPoints(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "allpos")
	var pos []esdb.Position
	for i := 0; i < 3; i++ {
		wr, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", "{}"))
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition})
	}
	fromPos, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: pos[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer fromPos.Close()
	fromEnd, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer fromEnd.Close()
	var got []uint64
	recvUntil(t, fromPos, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil && e.EventAppeared.OriginalEvent().StreamID == s {
			got = append(got, e.EventAppeared.OriginalEvent().EventNumber)
		}
		return len(got) == 2
	})
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("from position of revision 0 (exclusive): %v", got)
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, fromEnd, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil && e.EventAppeared.OriginalEvent().StreamID == s {
			got = append(got, e.EventAppeared.OriginalEvent().EventNumber)
			if e.EventAppeared.OriginalEvent().EventNumber != 3 {
				t.Fatalf("from end got old event %d", e.EventAppeared.OriginalEvent().EventNumber)
			}
			return true
		}
		return false
	})
}

// TestCatchUpToLiveNoGapNoDuplicate subscribes while writers append, so the switch from
// catch-up to live happens under load; every event must arrive exactly once, in order.
func TestCatchUpToLiveNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	prefix := streamName(t, "gap") + "-"
	const writers, perWriter = 4, 60
	if _, err := c.AppendToStream(ctx, prefix+"seed", esdb.AppendToStreamOptions{}, events(200, "seed")...); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			for i := 0; i < perWriter; i++ {
				if _, err := c.AppendToStream(ctx, fmt.Sprintf("%sw%d", prefix, w), esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, event("tick", "{}")); err != nil {
					errs <- err
					return
				}
				if i == perWriter/3 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			errs <- nil
		}(w)
	}
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next := map[string]uint64{}
	total := 0
	var lastPos uint64
	recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared == nil {
			return false
		}
		re := e.EventAppeared.OriginalEvent()
		if re.Position.Commit <= lastPos {
			t.Fatalf("position %d after %d", re.Position.Commit, lastPos)
		}
		lastPos = re.Position.Commit
		if re.EventNumber != next[re.StreamID] {
			t.Fatalf("%s: got revision %d, want %d", re.StreamID, re.EventNumber, next[re.StreamID])
		}
		next[re.StreamID]++
		total++
		return total == 200+writers*perWriter
	})
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSubscribeToAllFilters(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	base := streamName(t, "flt")
	if _, err := c.AppendToStream(ctx, base+"-keep", esdb.AppendToStreamOptions{}, event("keep.v1", "{}"), event("other.v1", "{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, base+"-drop", esdb.AppendToStreamOptions{}, events(100, "noise.v1")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, base+"-keep", esdb.AppendToStreamOptions{}, event("keep.v1", "{}")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		filter *esdb.SubscriptionFilter
		want   int
	}{
		{"stream prefix", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{base + "-keep"}}, 3},
		{"stream regex", &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^" + regexp.QuoteMeta(base) + "-k.*p$"}, 3},
		{"type prefix", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"keep."}}, 2},
		{"type regex", &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: `^(keep|other)\.v1$`}, 3},
	}
	for _, tc := range cases {
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: tc.filter, MaxSearchWindow: 10, CheckpointInterval: 2})
		if err != nil {
			t.Fatal(err)
		}
		n, checkpoints := 0, 0
		var lastCP uint64
		recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool {
			switch {
			case e.EventAppeared != nil:
				re := e.EventAppeared.OriginalEvent()
				if !strings.HasPrefix(re.StreamID, base) {
					return false
				}
				if strings.HasSuffix(re.StreamID, "-drop") {
					t.Fatalf("%s: filtered-out event %s/%s delivered", tc.name, re.StreamID, re.EventType)
				}
				n++
			case e.CheckPointReached != nil:
				if e.CheckPointReached.Commit < lastCP {
					t.Fatalf("%s: checkpoint went back", tc.name)
				}
				lastCP = e.CheckPointReached.Commit
				checkpoints++
			case e.CaughtUp != nil:
				return true
			}
			return false
		})
		sub.Close()
		if n != tc.want {
			t.Fatalf("%s: %d events, want %d", tc.name, n, tc.want)
		}
		// 100 non-matching events with a window of 10 × 2 must yield checkpoints.
		if checkpoints < 3 {
			t.Fatalf("%s: %d checkpoints", tc.name, checkpoints)
		}
	}
}

// TestDiscoveryConnectionString connects through esdb+discover://, which asks Gossip.Read
// for the cluster's leader.
func TestDiscoveryConnectionString(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("uses the embedded server's address")
	}
	srv := startServer(t, Config{})
	c := newClient(t, "esdb+discover://"+srv.Addr()+"?tls=false")
	s := streamName(t, "gossip")
	if _, err := c.AppendToStream(ctxFor(t), s, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatalf("append through discovery: %v", err)
	}
}
