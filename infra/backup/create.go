// Package backup takes, verifies, lists and loads Arkiv's backups: the key store and the
// embedded event store's tables, each database copied in one exported REPEATABLE READ
// snapshot (binary COPY), every file encrypted with AES-256-GCM under a key derived from the
// KEK, and a manifest of SHA-256 hashes signed with the ledger key. Read models and the
// search index are not in a backup: they are rebuilt from the log after a restore. The key
// store is never written in plaintext, and a restore is followed by a replay of the shred
// journal (package shredjournal), so nothing erased after a backup comes back with it.
package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/shredjournal"
)

// KeySource derives the backup key from the KEK (keyring.FileKEK implements it).
type KeySource interface {
	// CurrentVersion is the KEK version new backups derive their key from.
	CurrentVersion(ctx context.Context) (uint32, error)
	// DeriveKey derives a 32-byte key from a KEK version by HKDF with salt and info.
	DeriveKey(version uint32, salt []byte, info string) ([]byte, error)
}

// Config says what to back up and how.
type Config struct {
	// PGURL is the database of the read models, which holds the embedded event store's
	// schema when the embedded store is the backend (ARKIV_PG_URL).
	PGURL string
	// Schema is the embedded event store's schema (default "esdb"). Every table in it is
	// copied; when it has no events table the backend is a real cluster (external).
	Schema string
	// KeystoreURL is the key store's database; its keyring_* tables are copied.
	KeystoreURL string
	// Keys derives the backup key.
	Keys KeySource
	// Signer signs the manifest (the ledger key); nil leaves the backup unsigned.
	Signer note.Signer
	// Journal is the shred journal's path; its head is recorded when the file exists.
	Journal string
	// ExternalHead reads the head of $all of a real EventStoreDB cluster; it is called when
	// the backend is external, before the key store's snapshot.
	ExternalHead func(ctx context.Context) (*Position, error)
	// Version and Projections go into the manifest.
	Version     string
	Projections []string
	// Clock stamps the backup (default domain.SystemClock).
	Clock domain.Clock
	// Parallel is the number of connections copying per database (default 4).
	Parallel int
	// Log receives progress; nil discards.
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.Schema == "" {
		c.Schema = "esdb"
	}
	if c.Clock == nil {
		c.Clock = domain.SystemClock{}
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Create takes a backup into out, which must not exist yet: everything is written to a
// sibling directory and renamed into place when complete, so a backup directory with a
// manifest is always whole. The log's snapshot is taken before the key store's, so every
// subject an event in the backup refers to has its key (or its tombstone) in the backup.
func Create(ctx context.Context, cfg Config, out string) (*Manifest, error) {
	const op = "backup.create"
	cfg.defaults()
	if cfg.Keys == nil || cfg.PGURL == "" || cfg.KeystoreURL == "" {
		return nil, domain.E(domain.KindInvalid, op, "a backup needs ARKIV_PG_URL, the key store and the KEK file")
	}
	if _, err := os.Stat(out); err == nil {
		return nil, domain.Errorf(domain.KindConflict, op, "%s exists: a backup never overwrites", out)
	}
	m := &Manifest{Format: Format, ID: uuid.NewString(), CreatedAt: cfg.Clock.Now().UTC(), ArkivVersion: cfg.Version,
		Projections: cfg.Projections}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "no randomness")
	}
	m.KeySalt = base64.StdEncoding.EncodeToString(salt)
	ver, err := cfg.Keys.CurrentVersion(ctx)
	if err != nil {
		return nil, err
	}
	m.KEKVersion = ver
	key, err := cfg.Keys.DeriveKey(ver, salt, keyInfo)
	if err != nil {
		return nil, err
	}
	defer clear(key)

	if cfg.Journal != "" {
		if _, head, err := shredjournal.Read(cfg.Journal); err == nil {
			m.Journal = &head
		} else if !errors.Is(err, shredjournal.ErrMissing) {
			return nil, err
		}
	}

	if err := os.MkdirAll(filepath.Dir(filepath.Clean(out)), 0o700); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the backup's parent directory")
	}
	tmp := filepath.Join(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".partial-"+m.ID[:8])
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the backup directory")
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	d := &dumper{cfg: cfg, key: key, dir: tmp}
	embedded, err := hasEventsTable(ctx, cfg.PGURL, cfg.Schema)
	if err != nil {
		return nil, err
	}
	if embedded {
		m.Backend = BackendEmbedded
		db, pos, err := d.dump(ctx, cfg.PGURL, RoleEventStore, `n.nspname = $1`, cfg.Schema)
		if err != nil {
			return nil, err
		}
		m.LogPosition = pos
		m.Databases = append(m.Databases, db)
	} else {
		m.Backend = BackendExternal
		if cfg.ExternalHead == nil {
			return nil, domain.E(domain.KindInvalid, op, "the event store is external and no way to read its head was given")
		}
		if m.LogPosition, err = cfg.ExternalHead(ctx); err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot read the head of $all")
		}
	}
	kdb, _, err := d.dump(ctx, cfg.KeystoreURL, RoleKeystore, `n.nspname = current_schema() AND c.relname LIKE $1`, `keyring\_%`)
	if err != nil {
		return nil, err
	}
	m.Databases = append(m.Databases, kdb)
	m.Files = d.files
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	raw = append(raw, '\n')
	if err := writeFileSync(filepath.Join(tmp, ManifestFile), raw); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot write the manifest")
	}
	if err := writeMAC(tmp, key, raw); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot write the manifest's MAC")
	}
	if cfg.Signer != nil {
		if err := sign(tmp, m.ID, raw, cfg.Signer); err != nil {
			return nil, domain.Wrap(domain.KindInternal, op, err, "cannot sign the manifest")
		}
	}
	syncDirs(tmp)
	if err := os.Rename(tmp, out); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot move the backup into place")
	}
	syncDir(filepath.Dir(filepath.Clean(out)))
	ok = true
	return m, nil
}

func hasEventsTable(ctx context.Context, url, schema string) (bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, domain.Wrap(domain.KindUnavailable, "backup.create", err, "cannot reach ARKIV_PG_URL")
	}
	defer conn.Close(ctx)
	var ok bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'events')`, schema).Scan(&ok)
	return ok, err
}

// dumper copies databases into a backup directory.
type dumper struct {
	cfg Config
	key []byte
	dir string

	mu    sync.Mutex
	files []File
}

// task is one file to write: a table, or a range of its rows.
type task struct {
	table *Table
	query string
	file  string
}

// splitRows is the row count above which a table with a single bigint primary key is copied
// in ranges, in parallel.
const splitRows = 200_000

// dump copies every table matching filter (over pg_class c, pg_namespace n) of the database at
// url in one exported snapshot. For the event store it also returns the snapshot's last
// position.
func (d *dumper) dump(ctx context.Context, url, role, filter, arg string) (Database, *Position, error) {
	const op = "backup.create"
	db := Database{Role: role}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot reach the "+role+" database")
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot begin the snapshot")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot export the snapshot")
	}
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname, c.reltuples::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND `+filter+` ORDER BY c.relname`, arg)
	if err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot list tables")
	}
	type tinfo struct {
		schema, name string
		est          int64
	}
	tis, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tinfo, error) {
		var t tinfo
		return t, r.Scan(&t.schema, &t.name, &t.est)
	})
	if err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot list tables")
	}
	var tasks []task
	db.Tables = make([]Table, len(tis))
	for i, ti := range tis {
		t := &db.Tables[i]
		t.Schema, t.Name = ti.schema, ti.name
		qname := pgx.Identifier{ti.schema, ti.name}.Sanitize()
		rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
			ORDER BY a.attnum`, qname)
		if err != nil {
			return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot list columns")
		}
		if t.Columns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
			var c Column
			return c, r.Scan(&c.Name, &c.Type)
		}); err != nil {
			return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot list columns")
		}
		cols := columnList(t.Columns)
		base := fmt.Sprintf("%s/%s.%s", role, ti.schema, ti.name)
		pk, err := bigintKey(ctx, tx, qname)
		if err != nil {
			return db, nil, err
		}
		if pk != "" && ti.est > splitRows {
			var lo, hi *int64
			if err := tx.QueryRow(ctx, `SELECT min(`+pk+`), max(`+pk+`) FROM `+qname).Scan(&lo, &hi); err != nil {
				return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot read a key range")
			}
			if lo != nil {
				step := max((*hi-*lo+1)/int64(d.cfg.Parallel*2), splitRows/2)
				for a, n := *lo, 0; a <= *hi; a, n = a+step, n+1 {
					b := min(a+step-1, *hi)
					f := fmt.Sprintf("%s.%04d.enc", base, n)
					t.Files = append(t.Files, f)
					tasks = append(tasks, task{table: t, file: f,
						query: fmt.Sprintf(`COPY (SELECT %s FROM %s WHERE %s BETWEEN %d AND %d) TO STDOUT (FORMAT binary)`, cols, qname, pk, a, b)})
				}
				continue
			}
		}
		f := base + ".0000.enc"
		t.Files = []string{f}
		tasks = append(tasks, task{table: t, file: f, query: fmt.Sprintf(`COPY %s (%s) TO STDOUT (FORMAT binary)`, qname, cols)})
	}
	var pos *Position
	if role == RoleEventStore {
		var head *int64
		if err := tx.QueryRow(ctx, `SELECT max(pos) FROM `+pgx.Identifier{d.cfg.Schema, "events"}.Sanitize()).Scan(&head); err != nil {
			return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot read the log's head")
		}
		if head != nil {
			pos = &Position{Commit: uint64(*head), Prepare: uint64(*head)}
		}
	}
	if err := os.MkdirAll(filepath.Join(d.dir, role), 0o700); err != nil {
		return db, nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the backup directory")
	}
	counts, err := d.run(ctx, url, snapshot, tasks)
	if err != nil {
		return db, nil, err
	}
	for i := range tasks {
		tasks[i].table.Rows += counts[i]
	}
	d.cfg.Log.Info("backup: database copied", "role", role, "tables", len(db.Tables), "files", len(tasks))
	return db, pos, nil
}

// bigintKey returns the quoted name of table's primary key when it is one bigint column.
func bigintKey(ctx context.Context, tx pgx.Tx, qname string) (string, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, a.atttypid = 'int8'::regtype FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary`, qname)
	if err != nil {
		return "", domain.Wrap(domain.KindUnavailable, "backup.create", err, "cannot read a primary key")
	}
	type col struct {
		name   string
		bigint bool
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.name, &c.bigint)
	})
	if err != nil {
		return "", domain.Wrap(domain.KindUnavailable, "backup.create", err, "cannot read a primary key")
	}
	if len(cs) != 1 || !cs[0].bigint {
		return "", nil
	}
	return pgx.Identifier{cs[0].name}.Sanitize(), nil
}

func columnList(cs []Column) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		s += pgx.Identifier{c.Name}.Sanitize()
	}
	return s
}

// run writes the tasks' files over Parallel connections that share the exported snapshot,
// and returns each task's row count.
func (d *dumper) run(ctx context.Context, url, snapshot string, tasks []task) ([]int64, error) {
	counts := make([]int64, len(tasks))
	next := make(chan int)
	errc := make(chan error, d.cfg.Parallel)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < min(d.cfg.Parallel, len(tasks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.worker(ctx, url, snapshot, tasks, counts, next); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range tasks {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return counts, ctx.Err()
}

func (d *dumper) worker(ctx context.Context, url, snapshot string, tasks []task, counts []int64, next <-chan int) error {
	const op = "backup.create"
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot connect")
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot join the snapshot")
	}
	for i := range next {
		n, err := d.writeFile(ctx, conn, tasks[i])
		if err != nil {
			return err
		}
		counts[i] = n
	}
	return nil
}

// writeFile runs one COPY into an encrypted file and records its hash and size.
func (d *dumper) writeFile(ctx context.Context, conn *pgx.Conn, t task) (int64, error) {
	const op = "backup.create"
	f, err := os.OpenFile(filepath.Join(d.dir, t.file), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "cannot create a backup file")
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	sw, err := newSealWriter(cw, d.key, t.file)
	if err != nil {
		return 0, domain.Wrap(domain.KindInternal, op, err, "")
	}
	tag, err := conn.PgConn().CopyTo(ctx, sw, t.query)
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "COPY of "+t.table.Schema+"."+t.table.Name+" failed")
	}
	if err := sw.Close(); err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "cannot write a backup file")
	}
	if err := f.Sync(); err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "cannot fsync a backup file")
	}
	d.mu.Lock()
	d.files = append(d.files, File{Name: t.file, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))})
	d.mu.Unlock()
	return tag.RowsAffected(), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func syncDirs(root string) {
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			syncDir(p)
		}
		return nil
	})
}

// sinceCreated is how old a backup is at now.
func sinceCreated(m *Manifest, now time.Time) time.Duration { return now.Sub(m.CreatedAt) }
