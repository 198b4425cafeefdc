package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/readmodels"
)

// TestAuditExportCommand exports an organisation's audit log as JSONL to standard output
// and as CSV to a file, checks the rows and the footer, and that the export was recorded.
func TestAuditExportCommand(t *testing.T) {
	es := eventstoretest.New(t)
	kek := filepath.Join(t.TempDir(), "kek.json")
	keystore := pgtest.NewDatabase(t)
	rm := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, rm); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	conn := []string{"--esdb-url", es.URL, "--keystore-url", keystore, "--kek-file", kek, "--pg-url", rm}
	if code := run(ctx, env, append([]string{"bootstrap", "--org", "Region Test", "--admin-email", "dpo@region.example"}, conn...)); code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut.String())
	}
	var b map[string]string
	if err := json.Unmarshal(out.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	org := b["organizationId"]
	// Two entries as the audit projection writes them, one with a formula for an action.
	pool, err := pgxpool.New(ctx, rm)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i, action := range []string{"user.registered.v1", "=cmd()"} {
		if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at, organization_id,
				actor_id, action, outcome) VALUES ($1, $2, $2, now() - interval '1 minute', $3, $4, $5, 'ok')`,
			uuid.NewString(), i+1, org, b["adminUserId"], action); err != nil {
			t.Fatal(err)
		}
	}

	reason := []string{"--org", org, "--reason", "Auditor request 2026-17."}
	out.Reset()
	if code := run(ctx, env, append(append([]string{"audit", "export", "--format", "jsonl"}, reason...), conn...)); code != 0 {
		t.Fatalf("export jsonl: exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var foot struct {
		Footer readmodels.AuditExportFooter `json:"footer"`
	}
	if len(lines) != 3 || json.Unmarshal([]byte(lines[2]), &foot) != nil || foot.Footer.Rows != 2 ||
		foot.Footer.FirstPosition != 1 || foot.Footer.LastPosition != 2 || !foot.Footer.Complete {
		t.Fatalf("jsonl export: %q", out.String())
	}

	file := filepath.Join(t.TempDir(), "audit.csv")
	if code := run(ctx, env, append(append([]string{"audit", "export", "--format", "csv", "--out", file}, reason...), conn...)); code != 0 {
		t.Fatalf("export csv: exit %d: %s", code, errOut.String())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 4 || recs[2][3] != "'=cmd()" || recs[3][0] != readmodels.CSVFooterMarker {
		t.Fatalf("csv export: %v, %v", recs, err)
	}
	if code := run(ctx, env, append(append([]string{"audit", "export", "--format", "csv", "--out", file}, reason...), conn...)); code != 2 {
		t.Fatalf("an existing --out file: exit %d, want 2", code)
	}

	// Both exports are in the organisation's access log, by the system actor.
	recsES, _, err := es.Store.Load(ctx, domain.AccessStream(org))
	if err != nil {
		t.Fatal(err)
	}
	exports := 0
	for _, r := range recsES {
		var md domain.Metadata
		if r.Type == (domain.AuditLogExported{}).EventName() && json.Unmarshal(r.Metadata, &md) == nil && md.Actor == domain.SystemActor {
			exports++
		}
		if strings.Contains(string(r.Data), "Auditor request") {
			t.Fatal("the reason is stored in plaintext")
		}
	}
	if exports != 2 { // the refused third one recorded nothing
		t.Fatalf("%d recorded exports, want 2", exports)
	}

	for _, bad := range [][]string{
		{"audit", "export", "--org", org, "--reason", "short", "--format", "csv"},
		{"audit", "export", "--org", org, "--reason", "Auditor request 2026-17.", "--format", "xml"},
		{"audit", "export", "--org", "nope", "--reason", "Auditor request 2026-17.", "--format", "csv"},
		{"audit", "nothing"},
	} {
		if code := run(ctx, env, append(bad, conn...)); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
