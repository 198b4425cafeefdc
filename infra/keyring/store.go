package keyring

import (
	"context"
	"embed"
	"io/fs"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/arkiv/arkiv/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is the key store's goose version table: its own name, so that it never
// collides with the read models' when the key store shares their database.
const versionTable = "keyring_goose_db_version"

// migrationLockID is the session advisory lock that serialises concurrent opens migrating
// the same key store (distinct from the read models' migration lock).
const migrationLockID int64 = 0x61726b69766b6579 // "arkivkey"

// migrate applies the key store's pending migrations (migrations/, embedded) through pool.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 120))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName(versionTable), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// KeystoreURL returns the key store's URL: explicit when set (ARKIV_KEYSTORE_URL), otherwise
// the sibling database "<db>_keys" on the server of pgURL (ARKIV_PG_URL), so keys never live
// in the event store's database.
func KeystoreURL(explicit, pgURL string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if pgURL == "" {
		return "", domain.E(domain.KindInvalid, "keyring.keystore_url", "neither ARKIV_KEYSTORE_URL nor ARKIV_PG_URL is set")
	}
	u, err := url.Parse(pgURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", domain.E(domain.KindInvalid, "keyring.keystore_url", "ARKIV_PG_URL must be a postgres:// URL")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = u.User.Username()
	}
	if db == "" {
		db = "postgres"
	}
	u.Path = "/" + db + "_keys"
	return u.String(), nil
}

// EnsureDatabase creates the database named in dsn when it does not exist, connecting to the
// same server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dsn string) error {
	const op = "keyring.ensure_database"
	u, err := url.Parse(dsn)
	if err != nil {
		return domain.Wrap(domain.KindInvalid, op, err, "bad key store URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return domain.E(domain.KindInvalid, op, "the key store URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot reach the key store's server")
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot list databases")
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		// A concurrent creator wins the race: that is fine.
		if err2 := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err2 == nil && exists {
			return nil
		}
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot create the key store database")
	}
	return nil
}
