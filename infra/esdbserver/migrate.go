package esdbserver

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationTable is the goose version table of the event store, in the store's own schema
// and apart from the read models' one.
const migrationTable = "goose_esdb_version"

// migrate creates the schema and applies the event store's migrations to it. The
// migrations name their tables unqualified and run with the schema as search_path; goose
// serialises concurrent servers with a session advisory lock per schema.
func migrate(ctx context.Context, pgURL, schema string) error {
	if !identRE.MatchString(schema) {
		return fmt.Errorf("schema %q is not a plain lower-case SQL identifier", schema)
	}
	cc, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return fmt.Errorf("parse PGURL: %w", err)
	}
	cc.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cc)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS "`+schema+`"`); err != nil {
		// Two servers starting at once may race on CREATE SCHEMA IF NOT EXISTS.
		var exists bool
		if err2 := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err2 != nil || !exists {
			return fmt.Errorf("create event store schema: %w", err)
		}
	}
	p, err := newMigrator(db, schema)
	if err != nil {
		return fmt.Errorf("load event store migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate event store schema: %w", err)
	}
	return nil
}

func newMigrator(db *sql.DB, schema string) (*goose.Provider, error) {
	h := fnv.New64a()
	_, _ = h.Write([]byte("arkiv-esdb-migrate:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName(schema+"."+migrationTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
}
