package esdbserver

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func TestSoftDelete(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "soft")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events(2, "e")...); err != nil {
		t.Fatal(err)
	}
	// A wrong expected revision fails the delete.
	if _, err := c.DeleteStream(ctx, s, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(0)}); err == nil {
		t.Fatal("delete with a stale revision succeeded")
	}
	dr, err := c.DeleteStream(ctx, s, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	if dr.Position.Commit == 0 || dr.Position.Prepare == 0 {
		t.Fatalf("delete position %+v", dr.Position)
	}
	if _, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 10); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read after delete: %v", err)
	}
	// The first write after a delete may say no_stream; numbering continues.
	later := events(3, "e")
	wr, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, later...)
	if err != nil {
		t.Fatal(err)
	}
	if wr.NextExpectedVersion != 4 {
		t.Fatalf("recreated at %d, want 4", wr.NextExpectedVersion)
	}
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("e", "{}"))
	if errCode(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("second no_stream after recreate: %v", err)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(got)) != "[2 3 4]" || got[0].OriginalEvent().EventID != later[0].EventID {
		t.Fatalf("after recreate: %v", revisions(got))
	}
	meta, err := c.GetStreamMetadata(ctx, s, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tb := meta.TruncateBefore(); tb == nil || *tb != 2 {
		t.Fatalf("truncate before after recreate: %v", tb)
	}

	// Setting metadata on a soft-deleted stream recreates it empty, old events still hidden.
	s2 := streamName(t, "soft2")
	if _, err := c.AppendToStream(ctx, s2, esdb.AppendToStreamOptions{}, events(2, "e")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(ctx, s2, esdb.DeleteStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	var m esdb.StreamMetadata
	m.SetMaxCount(100)
	if _, err := c.SetStreamMetadata(ctx, s2, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, m); err != nil {
		t.Fatal(err)
	}
	got, err = readStream(t, c, s2, esdb.ReadStreamOptions{}, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("metadata on deleted stream: %d events, %v", len(got), err)
	}
}

func TestTombstone(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "tomb")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, events(2, "e")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(5)}); err == nil {
		t.Fatal("tombstone with a wrong revision succeeded")
	}
	tr, err := c.TombstoneStream(ctx, s, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Position.Commit == 0 {
		t.Fatalf("tombstone position %+v", tr.Position)
	}
	if _, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 10); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("read tombstoned: %v", err)
	}
	_, err = c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", "{}"))
	if errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("append to tombstoned: %v", err)
	}
	if _, err := c.GetStreamMetadata(ctx, s, esdb.ReadStreamOptions{}); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("metadata of tombstoned: %v", err)
	}
	if _, err := c.DeleteStream(ctx, s, esdb.DeleteStreamOptions{}); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("delete tombstoned: %v", err)
	}
}

func TestStreamMetadata(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "meta")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, events(10, "e")...); err != nil {
		t.Fatal(err)
	}
	// No metadata yet: the $$ stream does not exist (as on EventStoreDB).
	if _, err := c.GetStreamMetadata(ctx, s, esdb.ReadStreamOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("metadata before any was set: %v", err)
	}
	var m esdb.StreamMetadata
	m.SetMaxCount(3)
	m.AddCustomProperty("owner", "team-a")
	if _, err := c.SetStreamMetadata(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, m); err != nil {
		t.Fatal(err)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || fmt.Sprint(revisions(got)) != "[7 8 9]" {
		t.Fatalf("$maxCount 3: %v %v", revisions(got), err)
	}
	back, err := readStream(t, c, s, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100)
	if err != nil || fmt.Sprint(revisions(back)) != "[9 8 7]" {
		t.Fatalf("$maxCount 3 backwards: %v %v", revisions(back), err)
	}
	// A newer metadata event wins; $$ reads forwards with count 1 see the latest.
	var m2 esdb.StreamMetadata
	m2.SetTruncateBefore(5)
	if _, err := c.SetStreamMetadata(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, m2); err != nil {
		t.Fatal(err)
	}
	read, err := c.GetStreamMetadata(ctx, s, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if read.MaxCount() != nil || read.TruncateBefore() == nil || *read.TruncateBefore() != 5 {
		t.Fatalf("latest metadata: maxCount %v tb %v", read.MaxCount(), read.TruncateBefore())
	}
	got, err = readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || fmt.Sprint(revisions(got)) != "[5 6 7 8 9]" {
		t.Fatalf("$tb 5: %v %v", revisions(got), err)
	}
	// Metadata of a stream that does not exist yet is allowed; reads still say not found.
	ghost := streamName(t, "ghost")
	if _, err := c.SetStreamMetadata(ctx, ghost, esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
	if _, err := readStream(t, c, ghost, esdb.ReadStreamOptions{}, 10); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read of a stream with only metadata: %v", err)
	}
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	var c *esdb.Client
	var advance func()
	if realServerURL() != "" {
		c = newClient(t, realServerURL())
		advance = func() { time.Sleep(2500 * time.Millisecond) }
	} else {
		clk := &clocktest.Clock{}
		srv := startServer(t, Config{Clock: clk})
		c = newClient(t, srv.ConnectionString())
		advance = func() { clk.Advance(time.Hour) }
	}
	ctx := ctxFor(t)
	s := streamName(t, "age")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, events(3, "old")...); err != nil {
		t.Fatal(err)
	}
	var m esdb.StreamMetadata
	m.SetMaxAge(2 * time.Second)
	if _, err := c.SetStreamMetadata(ctx, s, esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
	if got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 10); err != nil || len(got) != 3 {
		t.Fatalf("young events: %d %v", len(got), err)
	}
	advance()
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("new", "{}")); err != nil {
		t.Fatal(err)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 10)
	if err != nil || fmt.Sprint(revisions(got)) != "[3]" {
		t.Fatalf("$maxAge: %v %v", revisions(got), err)
	}
}

// TestSystemEventsKeptApart: $$ metadata events and tombstones are system events in $all
// (types and streams starting with "$"), which the client's system filter removes.
func TestSystemEventsKeptApart(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "sys")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("user.v1", "{}")); err != nil {
		t.Fatal(err)
	}
	var m esdb.StreamMetadata
	m.SetMaxCount(5)
	if _, err := c.SetStreamMetadata(ctx, s, esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("user.v1", "{}")); err != nil {
		t.Fatal(err)
	}
	all := func(filter *esdb.SubscriptionFilter) (user, system int) {
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool {
			if e.EventAppeared != nil {
				re := e.EventAppeared.OriginalEvent()
				if re.StreamID == s {
					user++
				}
				if re.StreamID == "$$"+s {
					system++
					if re.EventType != "$metadata" {
						t.Fatalf("metadata event type %q", re.EventType)
					}
				}
			}
			return e.CaughtUp != nil
		})
		return user, system
	}
	if u, sys := all(nil); u != 2 || sys != 1 {
		t.Fatalf("unfiltered $all: %d user, %d system", u, sys)
	}
	if u, sys := all(esdb.ExcludeSystemEventsFilter()); u != 2 || sys != 0 {
		t.Fatalf("system filter: %d user, %d system", u, sys)
	}
}

func TestLargeEvent(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "big")
	data := []byte(strings.Repeat("x", 16<<20))
	ev := esdb.EventData{EventID: uuid.New(), EventType: "blob", ContentType: esdb.ContentTypeBinary, Data: data}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, ev); err != nil {
		t.Fatalf("append 16 MiB: %v", err)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 1)
	if err != nil || len(got) != 1 || len(got[0].OriginalEvent().Data) != len(data) {
		t.Fatalf("read 16 MiB: %v", err)
	}
}

func TestConcurrentAppendsOneStream(t *testing.T) {
	t.Parallel()
	c := startTarget(t).client
	ctx := ctxFor(t)
	s := streamName(t, "conc")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, event("e", "{}"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || len(got) != n {
		t.Fatalf("%d events, %v", len(got), err)
	}
	var last uint64
	for i, e := range got {
		if e.OriginalEvent().EventNumber != uint64(i) || e.OriginalEvent().Position.Commit <= last {
			t.Fatalf("event %d: revision %d position %d", i, e.OriginalEvent().EventNumber, e.OriginalEvent().Position.Commit)
		}
		last = e.OriginalEvent().Position.Commit
	}
}

// TestSlowSubscriberDoesNotBlockWriters stalls a live subscriber with a one-batch buffer
// while many commits land: writers carry on, and the subscriber, once it reads again, gets
// every event exactly once (it fell back to reading the store).
func TestSlowSubscriberDoesNotBlockWriters(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("needs the embedded server's live buffer size")
	}
	srv := startServer(t, Config{liveBuffer: 1})
	c := newClient(t, srv.ConnectionString())
	ctx := ctxFor(t)
	s := streamName(t, "slow")
	sub, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool { return e.CaughtUp != nil })
	payload := `{"pad":"` + strings.Repeat("p", 8<<10) + `"}`
	const n = 300
	start := time.Now()
	for i := 0; i < n; i++ { // ~2.4 MB, far beyond the HTTP/2 windows
		if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", payload)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("writers took %v with a stalled subscriber", d)
	}
	var next uint64
	recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool {
		if e.EventAppeared != nil {
			if e.EventAppeared.OriginalEvent().EventNumber != next {
				t.Fatalf("got revision %d, want %d", e.EventAppeared.OriginalEvent().EventNumber, next)
			}
			next++
		}
		return next == n
	})
	if srv.fallbacks.Load() == 0 {
		t.Fatal("the stalled subscriber never overflowed its live buffer")
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("closes the embedded server")
	}
	srv := startServer(t, Config{})
	c := newClient(t, srv.ConnectionString())
	ctx := ctxFor(t)
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(ctx) }()
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			break
		}
		if e.EventAppeared != nil {
			t.Fatalf("unexpected event %+v", e.EventAppeared)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// readAllEvents is a helper for tests that read a whole stream of $all.
func readAllEvents(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions) []*esdb.ResolvedEvent {
	t.Helper()
	rs, err := c.ReadAll(ctxFor(t), opts, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		out = append(out, ev)
	}
}

// TestRecoversFromLostDatabaseConnections kills the server's Postgres sessions between
// appends: an append may fail, but the writer recovers and numbering and order stay right.
func TestRecoversFromLostDatabaseConnections(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("kills the embedded server's database sessions")
	}
	db := pgtest.NewDatabase(t)
	srv := startServer(t, Config{PGURL: db})
	c := newClient(t, srv.ConnectionString())
	ctx := ctxFor(t)
	s := streamName(t, "pgdrop")
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	dbName := db[strings.LastIndex(db, "/")+1:]
	if i := strings.Index(dbName, "?"); i >= 0 {
		dbName = dbName[:i]
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName); err != nil {
		t.Fatal(err)
	}
	appended := 1
	for i := 0; i < 5; i++ {
		if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(uint64(appended - 1))}, event("e", "{}")); err == nil {
			appended++
		}
	}
	if appended < 4 {
		t.Fatalf("only %d appends succeeded after the sessions were killed", appended)
	}
	got, err := readStream(t, c, s, esdb.ReadStreamOptions{}, 100)
	if err != nil || len(got) != appended {
		t.Fatalf("%d events (%v), %d acknowledged", len(got), err, appended)
	}
	for i := 1; i < len(got); i++ {
		if got[i].OriginalEvent().Position.Commit <= got[i-1].OriginalEvent().Position.Commit {
			t.Fatal("positions out of order after recovery")
		}
	}
}
