package esdbserver

import (
	"context"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/jackc/pgx/v5"
)

// legacyDDL is the schema the event store created before it used migrations.
var legacyDDL = []string{
	`CREATE SCHEMA IF NOT EXISTS "esdb"`,
	`CREATE TABLE IF NOT EXISTS "esdb".events (
		pos          bigint PRIMARY KEY,
		stream       text   NOT NULL,
		revision     bigint NOT NULL,
		event_id     uuid   NOT NULL,
		event_type   text   NOT NULL,
		content_type text   NOT NULL,
		created      bigint NOT NULL,
		data         bytea  NOT NULL,
		metadata     bytea  NOT NULL,
		UNIQUE (stream, revision))`,
	`CREATE TABLE IF NOT EXISTS "esdb".streams (
		name          text    PRIMARY KEY,
		last_revision bigint  NOT NULL,
		deleted       boolean NOT NULL DEFAULT false,
		tombstoned    boolean NOT NULL DEFAULT false)`,
	`INSERT INTO "esdb".events VALUES (1, 'legacy-1', 0, '8f0e6b8c-3f43-4a43-9d5c-6f61a4f5e001',
		'legacy.v1', 'application/json', 16000000000000000, '{"old":true}', '')`,
	`INSERT INTO "esdb".streams VALUES ('legacy-1', 0, false, false)`,
}

func TestMigrationsOpenALegacyDatabase(t *testing.T) {
	t.Parallel()
	pgURL := pgtest.NewDatabase(t)
	ctx := ctxFor(t)
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, stmt := range legacyDDL {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("legacy DDL: %v", err)
		}
	}
	srv := startServer(t, Config{PGURL: pgURL})
	c := newClient(t, srv.ConnectionString())
	got, err := readStream(t, c, "legacy-1", esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
	if err != nil || len(got) != 1 || string(got[0].Event.Data) != `{"old":true}` {
		t.Fatalf("legacy event after migration: %v, %v", got, err)
	}
	if _, err := c.AppendToStream(ctx, "legacy-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, event("legacy.v1", `{}`)); err != nil {
		t.Fatalf("append after the legacy event: %v", err)
	}
	var version int64
	if err := conn.QueryRow(ctx, `SELECT max(version_id) FROM esdb.`+migrationTable).Scan(&version); err != nil {
		t.Fatalf("goose version table: %v", err)
	}
	srcs, _ := migrationFiles.ReadDir("migrations")
	if version != int64(len(srcs)) {
		t.Fatalf("applied version %d, want %d", version, len(srcs))
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM esdb.persistent_subscriptions`).Scan(&n); err != nil {
		t.Fatalf("persistent subscription table: %v", err)
	}
}

func TestMigrationsCustomSchemaAndRestart(t *testing.T) {
	t.Parallel()
	pgURL := pgtest.NewDatabase(t)
	for i := 0; i < 2; i++ {
		ctx := ctxFor(t)
		srv, err := Start(ctx, Config{PGURL: pgURL, Schema: "other_store", Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		c := newClient(t, srv.ConnectionString())
		if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, event("t", `{}`)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		got, err := readStream(t, c, "s", esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
		if err != nil || len(got) != i+1 {
			t.Fatalf("start %d: read %d events, %v", i, len(got), err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
