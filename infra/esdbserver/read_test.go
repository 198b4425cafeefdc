package esdbserver

import (
	"errors"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// TestReadAllFetchesNoMoreThanItSends: a $all read of n events returns exactly n across page
// boundaries and fetches exactly n from Postgres when everything it reads is sent (it used to
// fetch up to two pages beyond: the last page whole, and one read ahead).
func TestReadAllFetchesNoMoreThanItSends(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Config{})
	c := newClient(t, srv.ConnectionString())
	ctx := ctxFor(t)
	other, target := streamName(t, "other"), streamName(t, "target")
	read := func(opts esdb.ReadAllOptions, count uint64) (streams []string) {
		t.Helper()
		rs, err := c.ReadAll(ctx, opts, count)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return streams
			}
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, ev.OriginalEvent().StreamID)
		}
	}
	// The server's own $users streams are there from the first start.
	base := len(read(esdb.ReadAllOptions{From: esdb.Start{}}, 10_000))
	for i := 0; i < 5; i++ {
		if _, err := c.AppendToStream(ctx, other, esdb.AppendToStreamOptions{}, events(500, "o")...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		if _, err := c.AppendToStream(ctx, target, esdb.AppendToStreamOptions{}, events(500, "t")...); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []uint64{1, readPage - 1, readPage, readPage + 1, 2*readPage + 1, 4499} {
		before := srv.st.allRead.Load()
		got := read(esdb.ReadAllOptions{From: esdb.Start{}}, n)
		if uint64(len(got)) != n {
			t.Fatalf("count %d: read %d events", n, len(got))
		}
		if fetched := srv.st.allRead.Load() - before; fetched != int64(n) {
			t.Errorf("count %d: fetched %d events from Postgres", n, fetched)
		}
	}
	if got := read(esdb.ReadAllOptions{From: esdb.Start{}}, 10_000); len(got) != 4500+base {
		t.Fatalf("reading past the end: %d events, want %d", len(got), 4500+base)
	}
}
