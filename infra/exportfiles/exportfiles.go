// Package exportfiles keeps the files of exports built in the background (audit exports of
// any size) in Postgres: each file's job state, its content in chunks written as it streams,
// its SHA-256 and size, and an expiry. Any API replica answers a job's state and serves its
// download; nothing of a file is held in memory whole.
package exportfiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
)

// ChunkSize is how many bytes one stored chunk of a file holds.
const ChunkSize = 1 << 20

// Keep is how long a file stays downloadable after its job started.
const Keep = time.Hour

// Stale is how long a running job may go without reporting progress before it is reported
// failed (its process died).
const Stale = 2 * time.Minute

// Status is a job's state.
type Status string

// The states of a job.
const (
	Running Status = "running"
	Done    Status = "done"
	Failed  Status = "failed"
)

// File is an export's job state and the description of its file.
type File struct {
	ID, OrganizationID, RequesterID string
	// Kind names what is exported ("audit"); Format its format (jsonl, csv, ocsf).
	Kind, Format          string
	FileName, ContentType string
	Status                Status
	// Rows is how many rows are written so far, TotalRows how many the export expects.
	Rows, TotalRows int64
	Size            int64
	SHA256          string
	// Footer is the export's completeness footer, once done.
	Footer    json.RawMessage
	Error     string
	CreatedAt time.Time
	// FinishedAt is set once done or failed.
	FinishedAt *time.Time
	ExpiresAt  time.Time
}

// Store keeps export files in the read models' database (migration 00010).
type Store struct {
	pool  *pgxpool.Pool
	clock domain.Clock
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool, clock domain.Clock) (*Store, error) {
	if pool == nil || clock == nil {
		return nil, domain.E(domain.KindInternal, "exportfiles.new", "export files need a pool and a clock")
	}
	return &Store{pool: pool, clock: clock}, nil
}

// Create records a running job for f (ID, organisation, requester, kind, format, file name,
// content type and expected rows set by the caller) and returns a Writer for its content.
func (s *Store) Create(ctx context.Context, f File) (*Writer, error) {
	const op = "exportfiles.create"
	now := s.clock.Now().UTC()
	if _, err := s.pool.Exec(ctx, `INSERT INTO export_files (id, organization_id, requester_id, kind, format, file_name,
		content_type, status, total_rows, created_at, heartbeat_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,'running',$8,$9,$9,$10)`,
		f.ID, f.OrganizationID, f.RequesterID, f.Kind, f.Format, f.FileName, f.ContentType, f.TotalRows, now, now.Add(Keep)); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot record the export")
	}
	return &Writer{ctx: ctx, s: s, id: f.ID, h: sha256.New(), buf: make([]byte, 0, ChunkSize)}, nil
}

// Writer streams a file's content into its chunks, each stored as it fills, under the
// context Create was given. It is not safe for concurrent use.
type Writer struct {
	// ctx is the export's context (Write has none of its own).
	ctx  context.Context
	s    *Store
	id   string
	h    hash.Hash
	buf  []byte
	seq  int
	size int64
	err  error
}

// Write buffers p and stores every full chunk.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.h.Write(p)
	w.size += int64(n)
	for len(p) > 0 {
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize {
			if err := w.flush(w.ctx); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *Writer) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.s.pool.Exec(ctx, `INSERT INTO export_file_chunks (export_id, seq, data) VALUES ($1, $2, $3)`, w.id, w.seq, w.buf); err != nil {
		w.err = domain.Wrap(domain.KindUnavailable, "exportfiles.write", err, "cannot store the export")
		return w.err
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// Progress records that rows rows are written so far (and that the job is alive).
func (w *Writer) Progress(ctx context.Context, rows int64) error {
	_, err := w.s.pool.Exec(ctx, `UPDATE export_files SET rows = $2, heartbeat_at = $3 WHERE id = $1 AND status = 'running'`,
		w.id, rows, w.s.clock.Now().UTC())
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, "exportfiles.progress", err, "cannot record the export's progress")
	}
	return nil
}

// Finish stores the last chunk and marks the job done with its row count and footer.
func (w *Writer) Finish(ctx context.Context, rows int64, footer any) error {
	const op = "exportfiles.finish"
	if err := w.flush(ctx); err != nil {
		return err
	}
	fj, err := json.Marshal(footer)
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "cannot encode the footer")
	}
	now := w.s.clock.Now().UTC()
	if _, err := w.s.pool.Exec(ctx, `UPDATE export_files SET status = 'done', rows = $2, size = $3, sha256 = $4, footer = $5,
		heartbeat_at = $6, finished_at = $6 WHERE id = $1`, w.id, rows, w.size, hex.EncodeToString(w.h.Sum(nil)), fj, now); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot record the export")
	}
	return nil
}

// Fail marks the job failed with msg (shown to the requester: no internals) and drops what
// was stored of its content.
func (w *Writer) Fail(ctx context.Context, msg string) error {
	now := w.s.clock.Now().UTC()
	if _, err := w.s.pool.Exec(ctx, `UPDATE export_files SET status = 'failed', error = $2, finished_at = $3, heartbeat_at = $3 WHERE id = $1`,
		w.id, msg, now); err != nil {
		return domain.Wrap(domain.KindUnavailable, "exportfiles.fail", err, "cannot record the export's failure")
	}
	_, err := w.s.pool.Exec(ctx, `DELETE FROM export_file_chunks WHERE export_id = $1`, w.id)
	return err
}

// Get returns the file id of the organisation requested by requester, not found when it
// does not exist, expired, or is another's (the same answer for each). A running job whose
// process stopped reporting progress is reported failed.
func (s *Store) Get(ctx context.Context, org, requester, id string) (File, error) {
	const op = "exportfiles.get"
	if domain.ValidateID("export id", id) != nil {
		return File{}, domain.E(domain.KindNotFound, op, "no such export")
	}
	var f File
	var heartbeat time.Time
	var sha, errMsg *string
	var footer []byte
	err := s.pool.QueryRow(ctx, `SELECT id::text, organization_id, requester_id, kind, format, file_name, content_type, status,
		rows, total_rows, size, sha256, footer, error, created_at, heartbeat_at, finished_at, expires_at
		FROM export_files WHERE id = $1 AND organization_id = $2 AND requester_id = $3 AND expires_at > $4`,
		id, org, requester, s.clock.Now().UTC()).Scan(&f.ID, &f.OrganizationID, &f.RequesterID, &f.Kind, &f.Format, &f.FileName,
		&f.ContentType, &f.Status, &f.Rows, &f.TotalRows, &f.Size, &sha, &footer, &errMsg, &f.CreatedAt, &heartbeat, &f.FinishedAt, &f.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return File{}, domain.E(domain.KindNotFound, op, "no such export")
	}
	if err != nil {
		return File{}, domain.Wrap(domain.KindUnavailable, op, err, "export files unavailable")
	}
	f.SHA256, f.Error, f.Footer = deref(sha), deref(errMsg), footer
	if f.Status == Running && s.clock.Now().Sub(heartbeat) > Stale {
		f.Status, f.Error = Failed, "the export was interrupted (the server building it stopped); start it again"
	}
	return f, nil
}

// Copy writes the content of a done file to w, chunk by chunk.
func (s *Store) Copy(ctx context.Context, w io.Writer, id string) error {
	const op = "exportfiles.copy"
	for seq := 0; ; seq++ {
		var data []byte
		err := s.pool.QueryRow(ctx, `SELECT data FROM export_file_chunks WHERE export_id = $1 AND seq = $2`, id, seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "export files unavailable")
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
}

// PurgeExpired deletes every expired file and returns how many.
func (s *Store) PurgeExpired(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM export_files WHERE expires_at <= $1`, s.clock.Now().UTC())
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, "exportfiles.purge", err, "export files unavailable")
	}
	return tag.RowsAffected(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
