package keyring

import (
	"context"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/domain"
)

// schema is the key store's idempotent DDL. Key material exists only in
// keyring_keys.wrapped, wrapped by a KEK version; keyring_tombstones never holds key bytes.
const schema = `
CREATE TABLE IF NOT EXISTS keyring_meta (
	id              int PRIMARY KEY CHECK (id = 1),
	min_kek_version bigint NOT NULL DEFAULT 0
);
INSERT INTO keyring_meta (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS keyring_keys (
	subject            text PRIMARY KEY,
	dek_version        bigint NOT NULL,
	kek_version        bigint NOT NULL,
	wrapped            bytea NOT NULL,
	created_at         timestamptz NOT NULL,
	state              text NOT NULL CHECK (state IN ('active', 'shredding')),
	shred_requested_at timestamptz,
	destroy_after      timestamptz,
	shred_reason       text,
	shred_requester    text
);
CREATE INDEX IF NOT EXISTS keyring_keys_kek_version ON keyring_keys (kek_version);
CREATE INDEX IF NOT EXISTS keyring_keys_due ON keyring_keys (destroy_after) WHERE state = 'shredding';
CREATE TABLE IF NOT EXISTS keyring_tombstones (
	subject            text PRIMARY KEY,
	key_created_at     timestamptz NOT NULL,
	shred_requested_at timestamptz,
	destroy_after      timestamptz,
	destroyed_at       timestamptz NOT NULL,
	purged_at          timestamptz,
	delete_xid         xid8 NOT NULL,
	reason             text NOT NULL DEFAULT '',
	requester          text NOT NULL DEFAULT ''
);
`

// notifyChannel is the LISTEN/NOTIFY channel on which keyrings sharing a key store tell each
// other to drop a subject from their caches; the payload is the subject's canonical form.
const notifyChannel = "arkiv_keyring_invalidate"

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
