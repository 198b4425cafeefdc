package eventstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/google/uuid"
)

func proposed(n int, tag string) []domain.Proposed {
	out := make([]domain.Proposed, n)
	for i := range out {
		out[i] = domain.Proposed{EventID: uuid.NewString(), Type: "test.happened.v1",
			Data: []byte(fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, i)), Metadata: []byte(`{"actor":"x"}`)}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAppendLoadLast(t *testing.T) {
	t.Parallel()
	ctx, st := ctxT(t), eventstoretest.New(t).Store
	stream := "test-" + uuid.NewString()
	if evs, rev, err := st.Load(ctx, stream); err != nil || len(evs) != 0 || rev != domain.NoStream {
		t.Fatalf("missing stream: %d events, rev %d, %v", len(evs), rev, err)
	}
	if _, found, err := st.Last(ctx, stream); err != nil || found {
		t.Fatalf("Last of a missing stream: found %v, %v", found, err)
	}
	first := proposed(2, "a")
	pos1, err := st.Append(ctx, stream, domain.NoStream, first)
	if err != nil || pos1 == 0 {
		t.Fatalf("append: %d, %v", pos1, err)
	}
	pos2, err := st.Append(ctx, stream, 1, proposed(1, "b"))
	if err != nil || pos2 <= pos1 {
		t.Fatalf("second append: %d after %d, %v", pos2, pos1, err)
	}
	evs, rev, err := st.Load(ctx, stream)
	if err != nil || len(evs) != 3 || rev != 2 {
		t.Fatalf("load: %d events, rev %d, %v", len(evs), rev, err)
	}
	for i, e := range evs {
		if e.Revision != uint64(i) || e.Stream != stream || e.Type != "test.happened.v1" || e.Position == 0 || e.Created.IsZero() {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if evs[0].EventID != first[0].EventID || string(evs[0].Data) != string(first[0].Data) || string(evs[0].Metadata) != `{"actor":"x"}` {
		t.Fatalf("event 0 not stored as proposed: %+v", evs[0])
	}
	if evs[2].Position != pos2 {
		t.Fatalf("stream read position %d, append returned %d", evs[2].Position, pos2)
	}
	last, found, err := st.Last(ctx, stream)
	if err != nil || !found || last.Revision != 2 || last.EventID != evs[2].EventID {
		t.Fatalf("Last: %+v %v %v", last, found, err)
	}
}

func TestWrongExpectedRevisionIsConflict(t *testing.T) {
	t.Parallel()
	ctx, st := ctxT(t), eventstoretest.New(t).Store
	stream := "test-" + uuid.NewString()
	if _, err := st.Append(ctx, stream, domain.NoStream, proposed(1, "a")); err != nil {
		t.Fatal(err)
	}
	_, err := st.Append(ctx, stream, domain.NoStream, proposed(1, "b"))
	if !domain.Is(domain.KindConflict, err) {
		t.Fatalf("append to existing stream with NoStream: want CONFLICT, got %v", err)
	}
	_, err = st.Append(ctx, stream, 5, proposed(1, "c"))
	if !domain.Is(domain.KindConflict, err) {
		t.Fatalf("append at wrong revision: want CONFLICT, got %v", err)
	}
}

func TestIdempotentAppend(t *testing.T) {
	t.Parallel()
	ctx, st := ctxT(t), eventstoretest.New(t).Store
	stream := "test-" + uuid.NewString()
	evs := proposed(2, "a")
	if _, err := st.Append(ctx, stream, domain.NoStream, evs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, stream, domain.NoStream, evs); err != nil {
		t.Fatalf("exact retry: %v", err)
	}
	got, _, err := st.Load(ctx, stream)
	if err != nil || len(got) != 2 {
		t.Fatalf("after retry: %d events, %v", len(got), err)
	}
}

func TestSubscribeAll(t *testing.T) {
	t.Parallel()
	ctx, st := ctxT(t), eventstoretest.New(t).Store
	a, b := "alpha-"+uuid.NewString(), "beta-"+uuid.NewString()
	posA, err := st.Append(ctx, a, domain.NoStream, proposed(2, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, b, domain.NoStream, proposed(1, "b")); err != nil {
		t.Fatal(err)
	}
	sub, err := st.SubscribeAll(ctx, 0, eventstore.Filter{StreamPrefixes: []string{"alpha-", "beta-"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var streams []string
	var lastPos uint64
	for len(streams) < 4 {
		if len(streams) == 3 {
			if _, err := st.Append(ctx, a, 1, proposed(1, "live")); err != nil {
				t.Fatal(err)
			}
			streams = append(streams, "appended")
		}
		m, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Event == nil {
			continue
		}
		if m.Event.Position <= lastPos {
			t.Fatalf("positions not increasing: %d after %d", m.Event.Position, lastPos)
		}
		lastPos = m.Event.Position
		streams = append(streams, m.Event.Stream)
	}
	for {
		m, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Event != nil {
			if m.Event.Stream != a || m.Event.Revision != 2 {
				t.Fatalf("live event: %+v", m.Event)
			}
			break
		}
	}
	if streams[0] != a || streams[1] != a || streams[2] != b {
		t.Fatalf("order: %v", streams)
	}

	// From a position: only what comes after it, filtered by prefix.
	sub2, err := st.SubscribeAll(ctx, posA, eventstore.Filter{StreamPrefixes: []string{"beta-"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	for {
		m, err := sub2.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Event != nil {
			if m.Event.Stream != b {
				t.Fatalf("filter let %s through", m.Event.Stream)
			}
			break
		}
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	st, err := eventstore.Open("esdb://127.0.0.1:1?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _, err = st.Load(ctx, "test-x")
	if !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("unreachable server: want UNAVAILABLE, got %v (%s)", err, domain.KindOf(err))
	}
}

func TestEmptyAndReadAll(t *testing.T) {
	env := eventstoretest.New(t)
	if env.Server == nil {
		t.Skip("a shared real server is not empty")
	}
	ctx, st := ctxT(t), env.Store
	if empty, err := st.Empty(ctx); err != nil || !empty {
		t.Fatalf("new store: empty %v, %v", empty, err)
	}
	if _, err := st.Append(ctx, "x-"+uuid.NewString(), domain.NoStream, proposed(3, "a")); err != nil {
		t.Fatal(err)
	}
	if empty, err := st.Empty(ctx); err != nil || empty {
		t.Fatalf("after append: empty %v, %v", empty, err)
	}
	all, err := st.ReadAll(ctx, 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("ReadAll: %d, %v", len(all), err)
	}
	rest, err := st.ReadAll(ctx, all[0].Position, 10)
	if err != nil || len(rest) != 2 {
		t.Fatalf("ReadAll after the first: %d, %v", len(rest), err)
	}
}
