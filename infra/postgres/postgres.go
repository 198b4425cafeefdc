// Package postgres owns Arkiv's Postgres schema: the SQL migrations, embedded in the binary and
// applied with goose, for projection checkpoints, projection status and the read models.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded migration files, named NNNNN_name.sql, at the root of the
// returned file system.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		// The directory is embedded at compile time: fs.Sub cannot fail on it.
		return migrations
	}
	return sub
}

// Migrate applies every pending migration to the database at dsn and returns once the schema
// is current. It is safe to run concurrently from several processes: goose takes a session
// advisory lock.
func Migrate(ctx context.Context, dsn string) error {
	const op = "postgres.Migrate"
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return domain.Wrap(domain.KindInvalid, op, err, "bad Postgres URL")
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "Postgres is unreachable")
	}
	p, err := newProvider(db)
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "load migrations")
	}
	if _, err := p.Up(ctx); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "apply migrations")
	}
	return nil
}

// Version returns the highest applied migration version of the database at dsn (0 when none)
// and the highest version embedded in this binary.
func Version(ctx context.Context, dsn string) (applied, latest int64, err error) {
	const op = "postgres.Version"
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, 0, domain.Wrap(domain.KindInvalid, op, err, "bad Postgres URL")
	}
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return 0, 0, domain.Wrap(domain.KindInternal, op, err, "load migrations")
	}
	applied, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, domain.Wrap(domain.KindUnavailable, op, err, "read schema version")
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return applied, latest, nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectPostgres, db, Migrations())
}

// The pgx database/sql driver registers itself as "pgx"; referencing the package keeps the
// import explicit.
var _ = stdlib.GetDefaultDriver
