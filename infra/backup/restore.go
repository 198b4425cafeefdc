package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
)

// Target names the databases a backup is loaded into. Their tables must exist already (the
// binary's migrations create them) and hold no events and no keys.
type Target struct {
	// PGURL is the database of the embedded event store's schema.
	PGURL string
	// Schema is the embedded event store's schema (default "esdb").
	Schema string
	// KeystoreURL is the key store's database.
	KeystoreURL string
}

// ErrNotEmpty is returned by Load when a target database already holds events or keys.
var ErrNotEmpty = domain.E(domain.KindConflict, "backup.load",
	"the target databases are not empty: a restore loads into empty or dropped databases (drop them, or point ARKIV_PG_URL/ARKIV_KEYSTORE_URL elsewhere)")

// Load loads m's tables from dir into t: each table is emptied, then filled by binary COPY
// from the decrypted files (in parallel, a file per connection); sequences owned by their
// columns are moved past the loaded rows. progress, when set, is called with the rows
// loaded so far and the total.
func Load(ctx context.Context, dir string, m *Manifest, keys KeySource, t Target, parallel int, progress func(done, total int64)) error {
	const op = "backup.load"
	if t.Schema == "" {
		t.Schema = "esdb"
	}
	if parallel <= 0 {
		parallel = 4
	}
	key, err := BackupKey(m, keys)
	if err != nil {
		return err
	}
	defer clear(key)
	var total int64
	for _, db := range m.Databases {
		for _, tb := range db.Tables {
			if !isVersionTable(tb) {
				total += tb.Rows
			}
		}
	}
	var done atomic.Int64
	for _, db := range m.Databases {
		url := t.KeystoreURL
		if db.Role == RoleEventStore {
			url = t.PGURL
		}
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "cannot reach the "+db.Role+" database")
		}
		err = loadDatabase(ctx, pool, dir, key, db, t, parallel, func(n int64) {
			if progress != nil {
				progress(done.Add(n), total)
			}
		})
		pool.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func loadDatabase(ctx context.Context, pool *pgxpool.Pool, dir string, key []byte, db Database, t Target, parallel int, add func(int64)) error {
	const op = "backup.load"
	// Refuse to overwrite a store in use.
	guard := `SELECT EXISTS (SELECT 1 FROM keyring_keys) OR EXISTS (SELECT 1 FROM keyring_tombstones)`
	if db.Role == RoleEventStore {
		guard = `SELECT EXISTS (SELECT 1 FROM ` + pgx.Identifier{t.Schema, "events"}.Sanitize() + `)`
	}
	var used bool
	if err := pool.QueryRow(ctx, guard).Scan(&used); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "the "+db.Role+" tables are not there: run the migrations first")
	}
	if used {
		return ErrNotEmpty
	}
	type job struct {
		qname, cols, file string
	}
	var jobs []job
	var rebuild []string // statements recreating the indexes dropped for the load
	for _, tb := range db.Tables {
		if isVersionTable(tb) {
			continue
		}
		schema := tb.Schema
		if db.Role == RoleEventStore {
			schema = t.Schema
		} else if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "")
		}
		qname := pgx.Identifier{schema, tb.Name}.Sanitize()
		if err := checkColumns(ctx, pool, qname, tb); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, `TRUNCATE `+qname); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "cannot empty "+qname)
		}
		if tb.Rows >= deferIndexRows {
			defs, err := dropIndexes(ctx, pool, qname)
			if err != nil {
				return err
			}
			rebuild = append(rebuild, defs...)
		}
		for _, f := range tb.Files {
			jobs = append(jobs, job{qname: qname, cols: columnList(tb.Columns), file: f})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan job)
	errc := make(chan error, parallel)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := loadFile(ctx, pool, dir, key, j.qname, j.cols, j.file, add); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for _, j := range jobs {
			select {
			case next <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := runParallel(ctx, pool, rebuild, parallel); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot recreate an index after the load")
	}
	for _, tb := range db.Tables {
		if isVersionTable(tb) {
			continue
		}
		schema := t.Schema
		if db.Role == RoleKeystore {
			schema = ""
		}
		if err := fixSequences(ctx, pool, schema, tb); err != nil {
			return err
		}
	}
	return nil
}

// deferIndexRows is the row count from which a table's indexes are dropped before its load
// and built again after it, as pg_restore does: one sort per index instead of a B-tree
// insertion per row.
const deferIndexRows = 50_000

// dropIndexes drops qname's primary key, unique constraints and other indexes and returns the
// statements that recreate them. A table that a foreign key references keeps its indexes.
func dropIndexes(ctx context.Context, pool *pgxpool.Pool, qname string) ([]string, error) {
	const op = "backup.load"
	var referenced bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = $1::regclass)`, qname).Scan(&referenced); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "")
	}
	if referenced {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `
		SELECT 'ALTER TABLE ' || $1 || ' DROP CONSTRAINT ' || quote_ident(conname),
			'ALTER TABLE ' || $1 || ' ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u')
		UNION ALL
		SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid = $1::regclass
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, qname)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "")
	}
	type pair struct{ drop, create string }
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		return p, r.Scan(&p.drop, &p.create)
	})
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "")
	}
	var creates []string
	for _, p := range ps {
		if _, err := pool.Exec(ctx, p.drop); err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot drop an index for the load")
		}
		creates = append(creates, p.create)
	}
	return creates, nil
}

// runParallel runs each statement on its own connection, parallel at a time, with a larger
// maintenance_work_mem for index builds.
func runParallel(ctx context.Context, pool *pgxpool.Pool, stmts []string, parallel int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	errc := make(chan error, parallel)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(stmts)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range next {
				err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
					if _, err := c.Exec(ctx, `SET maintenance_work_mem = '256MB'`); err != nil {
						return err
					}
					_, err := c.Exec(ctx, q)
					_, _ = c.Exec(ctx, `RESET maintenance_work_mem`)
					return err
				})
				if err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for _, q := range stmts {
			select {
			case next <- q:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return ctx.Err()
}

// isVersionTable reports whether tb is a goose version table: the target's own migrations
// wrote it (and the columns of every other table are checked against the backup's), so it is
// kept rather than replaced by the backup's.
func isVersionTable(tb Table) bool { return strings.HasSuffix(tb.Name, "goose_db_version") }

// checkColumns refuses a target table whose columns differ from the backup's (another
// version's schema).
func checkColumns(ctx context.Context, pool *pgxpool.Pool, qname string, tb Table) error {
	rows, err := pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`, qname)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, "backup.load", err, "")
	}
	have := map[string]string{}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			rows.Close()
			return err
		}
		have[n] = ty
	}
	rows.Close()
	if len(have) == 0 {
		return domain.Errorf(domain.KindConflict, "backup.load", "table %s does not exist in the target: the backup is from another Arkiv version", qname)
	}
	for _, c := range tb.Columns {
		if have[c.Name] != c.Type {
			return domain.Errorf(domain.KindConflict, "backup.load", "column %s of %s is %q in the target, %q in the backup", c.Name, qname, have[c.Name], c.Type)
		}
	}
	return nil
}

func loadFile(ctx context.Context, pool *pgxpool.Pool, dir string, key []byte, qname, cols, name string, add func(int64)) error {
	const op = "backup.load"
	fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot open "+name)
	}
	defer fh.Close()
	or, err := newOpenReader(fh, key, name)
	if err != nil {
		return domain.Wrap(domain.KindConflict, op, err, "")
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "")
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, or, fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, qname, cols))
	if err != nil {
		return domain.Wrap(domain.KindConflict, op, err, "cannot load "+name)
	}
	add(tag.RowsAffected())
	return nil
}

// fixSequences moves every sequence owned by a column of tb past the column's largest value.
func fixSequences(ctx context.Context, pool *pgxpool.Pool, schema string, tb Table) error {
	qname := pgx.Identifier{tb.Name}.Sanitize()
	if schema != "" {
		qname = pgx.Identifier{schema, tb.Name}.Sanitize()
	}
	for _, c := range tb.Columns {
		var seq *string
		if err := pool.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, $2)`, qname, c.Name).Scan(&seq); err != nil || seq == nil {
			continue
		}
		col := pgx.Identifier{c.Name}.Sanitize()
		if _, err := pool.Exec(ctx, `SELECT setval($1, coalesce((SELECT max(`+col+`) FROM `+qname+`), 0) + 1, false)`, *seq); err != nil {
			return domain.Wrap(domain.KindUnavailable, "backup.load", err, "cannot move a sequence")
		}
	}
	return nil
}
