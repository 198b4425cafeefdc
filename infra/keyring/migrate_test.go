package keyring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
)

// oldSchema is the DDL the keyring ran on every open before it used goose, verbatim.
const oldSchema = `
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

// TestOpenAdoptsAKeyStoreMadeByTheOldDDL: a key store created by the DDL the keyring ran
// before goose opens, keeps its keys (the golden events still decode) and records the
// migration in the keyring's own version table.
func TestOpenAdoptsAKeyStoreMadeByTheOldDDL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc goldenFile
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f := &fixture{dsn: pgtest.NewDatabase(t), clock: newClock()}
	f.pool = f.newPool(t)
	if _, err := f.pool.Exec(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if _, err := f.pool.Exec(ctx, `INSERT INTO keyring_keys (subject, dek_version, kek_version, wrapped, created_at, state)
			VALUES ($1, $2, $3, $4, $5, 'active')`, k.Subject, k.DEKVersion, k.KEKVersion, k.Wrapped, k.CreatedAt); err != nil {
			t.Fatal(err)
		}
	}
	f.kek = goldenKEKFile(t)
	for i := 0; i < 2; i++ { // the second open finds nothing to do
		kr := f.open(t, f.pool, WithoutListener())
		ev := doc.Events[len(doc.Events)-1]
		var got testMessageSent
		if err := NewCodec(kr).Decode(ctx, ev.ID, []byte(ev.Sealed), &got); err != nil || got.Message.Text.Plain == "" {
			t.Fatalf("open %d: a golden event does not decode over the adopted key store: %v", i, err)
		}
	}
	assertKeyringVersion(t, f.pool, latestKeyringVersion(t))
	var keys int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM keyring_keys`).Scan(&keys); err != nil || keys != len(doc.Keys) {
		t.Fatalf("adopted key store has %d keys (%v), want %d", keys, err, len(doc.Keys))
	}
}

// TestKeyStoreSharesADatabaseWithTheReadModels: the keyring's and the read models'
// migrations keep separate goose version tables in one database, in either order, and
// concurrent opens of a fresh key store all succeed.
func TestKeyStoreSharesADatabaseWithTheReadModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, keyringFirst := range []bool{true, false} {
		f := &fixture{dsn: pgtest.NewDatabase(t), clock: newClock()}
		f.pool = f.newPool(t)
		f.kek = goldenKEKFile(t)
		if !keyringFirst {
			if err := postgres.Migrate(ctx, f.dsn); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				octx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				kr, err := Open(octx, f.pool, f.kek, f.clock, WithoutListener())
				if err == nil {
					kr.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent open: %v", err)
			}
		}
		if keyringFirst {
			if err := postgres.Migrate(ctx, f.dsn); err != nil {
				t.Fatal(err)
			}
		}
		assertKeyringVersion(t, f.pool, latestKeyringVersion(t))
		applied, latest, err := postgres.Version(ctx, f.dsn)
		if err != nil || applied != latest || applied < 1 {
			t.Fatalf("read models at version %d of %d (%v) beside the key store", applied, latest, err)
		}
	}
}

// assertKeyringVersion checks the keyring's goose table records exactly the migrations up
// to want.
func assertKeyringVersion(t *testing.T, pool *pgxpool.Pool, want int64) {
	t.Helper()
	var max int64
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT coalesce(max(version_id), 0), count(*) FROM `+versionTable+` WHERE version_id > 0 AND is_applied`).Scan(&max, &n); err != nil {
		t.Fatalf("keyring version table: %v", err)
	}
	if max != want || n != int(want) {
		t.Fatalf("keyring version table at %d with %d rows, want %d", max, n, want)
	}
}

// latestKeyringVersion is the number of the key store's newest embedded migration.
func latestKeyringVersion(t *testing.T) int64 {
	t.Helper()
	entries, err := migrations.ReadDir("migrations")
	if err != nil || len(entries) == 0 {
		t.Fatalf("embedded migrations: %d, %v", len(entries), err)
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%05d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}
