// Package eventstoretest gives a test an event store of its own: the embedded EventStoreDB
// server over a fresh Postgres database (pgtest), reached through the official client — or
// a real EventStoreDB when ARKIV_ESDB_TEST_URL is set (tests then use unique stream names).
package eventstoretest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// Env is a running store for one test.
type Env struct {
	// Store is the adapter over the official client.
	Store *eventstore.Store
	// URL is the connection string of the server.
	URL string
	// Server is the embedded server, nil against a real one.
	Server *esdbserver.Server
	// PGURL is the embedded server's Postgres database (its tables are in schema "esdb"),
	// empty against a real server.
	PGURL string
}

// New starts (or connects to) a store for t; everything is closed when t ends.
func New(t testing.TB) *Env {
	t.Helper()
	env := &Env{URL: os.Getenv("ARKIV_ESDB_TEST_URL")}
	if env.URL == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		env.PGURL = pgtest.NewDatabase(t)
		srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: env.PGURL, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("eventstoretest: start embedded server: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		})
		env.Server, env.URL = srv, srv.ConnectionString()
	}
	st, err := eventstore.Open(env.URL)
	if err != nil {
		t.Fatalf("eventstoretest: open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	env.Store = st
	return env
}
