package exportfiles_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/exportfiles"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
)

func newStore(t *testing.T) (*exportfiles.Store, *clocktest.Clock, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clock := &clocktest.Clock{}
	s, err := exportfiles.New(pool, clock)
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, pool
}

// TestFileRoundTripsAcrossChunks: a file larger than two chunks, written in odd-sized pieces,
// comes back byte for byte with its SHA-256 and size, only to its requester in its
// organisation.
func TestFileRoundTripsAcrossChunks(t *testing.T) {
	t.Parallel()
	s, _, pool := newStore(t)
	ctx := context.Background()
	f := exportfiles.File{ID: uuid.NewString(), OrganizationID: "org-a", RequesterID: "admin-a", Kind: "audit", Format: "jsonl",
		FileName: "a.jsonl", ContentType: "application/x-ndjson", TotalRows: 3}
	w, err := s.Create(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 2*exportfiles.ChunkSize+12345)
	_, _ = rand.Read(content)
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 77777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Progress(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "org-a", "admin-a", f.ID); err != nil || got.Status != exportfiles.Running || got.Rows != 2 {
		t.Fatalf("running: %+v, %v", got, err)
	}
	if err := w.Finish(ctx, 3, map[string]any{"rows": 3}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "org-a", "admin-a", f.ID)
	sum := sha256.Sum256(content)
	if err != nil || got.Status != exportfiles.Done || got.Size != int64(len(content)) || got.SHA256 != hex.EncodeToString(sum[:]) ||
		string(got.Footer) != `{"rows":3}` || got.FinishedAt == nil {
		t.Fatalf("done: %+v, %v", got, err)
	}
	var chunks int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM export_file_chunks WHERE export_id = $1`, f.ID).Scan(&chunks); err != nil || chunks != 3 {
		t.Fatalf("chunks = %d, %v", chunks, err)
	}
	var buf bytes.Buffer
	if err := s.Copy(ctx, &buf, f.ID); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("copy: %d bytes, %v", buf.Len(), err)
	}
	for _, who := range [][2]string{{"org-a", "admin-b"}, {"org-b", "admin-a"}, {"org-b", "admin-b"}} {
		if _, err := s.Get(ctx, who[0], who[1], f.ID); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("%v got the file: %v", who, err)
		}
	}
	if _, err := s.Get(ctx, "org-a", "admin-a", "not-a-uuid"); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("a malformed id: %v", err)
	}
}

// TestFailedStaleAndExpired: a failed job keeps no content; a running job that stops
// reporting progress is reported failed; a file past its expiry is gone and purged.
func TestFailedStaleAndExpired(t *testing.T) {
	t.Parallel()
	s, clock, pool := newStore(t)
	ctx := context.Background()
	newFile := func() (exportfiles.File, *exportfiles.Writer) {
		f := exportfiles.File{ID: uuid.NewString(), OrganizationID: "org", RequesterID: "admin", Kind: "audit", Format: "csv",
			FileName: "x.csv", ContentType: "text/csv"}
		w, err := s.Create(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(bytes.Repeat([]byte("x"), exportfiles.ChunkSize+1)); err != nil {
			t.Fatal(err)
		}
		return f, w
	}
	failed, w := newFile()
	if err := w.Fail(ctx, "the export failed (unavailable)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM export_file_chunks WHERE export_id = $1`, failed.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a failed export keeps %d chunks, %v", n, err)
	}
	if got, _ := s.Get(ctx, "org", "admin", failed.ID); got.Status != exportfiles.Failed || got.Error == "" {
		t.Fatalf("failed: %+v", got)
	}
	stale, _ := newFile()
	clock.Advance(exportfiles.Stale + time.Second)
	if got, _ := s.Get(ctx, "org", "admin", stale.ID); got.Status != exportfiles.Failed || got.Error == "" {
		t.Fatalf("a job silent for longer than Stale: %+v", got)
	}
	clock.Advance(exportfiles.Keep)
	if _, err := s.Get(ctx, "org", "admin", stale.ID); domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("an expired file: %v", err)
	}
	if purged, err := s.PurgeExpired(ctx); err != nil || purged != 2 {
		t.Fatalf("purged %d, %v", purged, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM export_file_chunks`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d chunks left after the purge, %v", n, err)
	}
}
