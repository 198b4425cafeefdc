package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestProjectionsCommands runs `arkiv projections status` and `rebuild --all` against a
// store holding a bootstrapped organisation: the rebuild replays its events into every
// read model, after which status shows each projection at the head of $all.
func TestProjectionsCommands(t *testing.T) {
	es := eventstoretest.New(t)
	pg := pgtest.NewDatabase(t)
	kek := filepath.Join(t.TempDir(), "kek.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	call := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		return run(ctx, env, args), out.String(), errOut.String()
	}
	if code, _, stderr := call("bootstrap", "--org", "Projections Test", "--admin-email", "a@b.example",
		"--esdb-url", es.URL, "--pg-url", pg, "--kek-file", kek); code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, stderr)
	}
	conn := []string{"--pg-url", pg, "--esdb-url", es.URL}

	code, out, stderr := call(append([]string{"projections", "status"}, conn...)...)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`head of \$all: (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "empty" {
		t.Fatalf("status names no head of $all:\n%s", out)
	}
	head := m[1]
	for _, name := range []string{"readmodel", "readmodel.auth", "audit"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+\S+\s+-\s`).MatchString(out) {
			t.Fatalf("before any run, status does not list %s without a position:\n%s", name, out)
		}
	}

	code, out, stderr = call(append([]string{"projections", "rebuild", "--all"}, conn...)...)
	if code != 0 {
		t.Fatalf("rebuild --all: exit %d: %s", code, stderr)
	}
	for _, name := range []string{"readmodel", "readmodel.auth", "audit"} {
		mm := regexp.MustCompile(`rebuilt ` + regexp.QuoteMeta(name) + `: (\d+) events`).FindStringSubmatch(out)
		if mm == nil || mm[1] == "0" {
			t.Fatalf("rebuild --all did not replay events into %s:\n%s", name, out)
		}
	}

	code, out, _ = call(append([]string{"projections", "status"}, conn...)...)
	if code != 0 {
		t.Fatal("status after rebuild failed")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "readmodel ") && !strings.Contains(line, head) {
			t.Fatalf("after the rebuild readmodel is not at the head %s:\n%s", head, out)
		}
	}

	// An audit stream failing to deliver shows its position, lag and last error.
	pool, err := pgxpool.New(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var org string
	if err := pool.QueryRow(ctx, `SELECT organization_id FROM organizations LIMIT 1`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	const stream = "00000000-0000-4000-8000-00000000a5a5"
	if _, err := pool.Exec(ctx, `INSERT INTO audit_streams (stream_id, organization_id, kind, format, endpoint, include_detail,
			configured_at, configured_by, created_position) VALUES ($1, $2, 'WEBHOOK', 'OCSF', 'https://siem.example/hook', false, now(), $2, 0);
		`, stream, org); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_stream_state (stream_id, commit_position, prepare_position, last_error, last_error_at, updated_at)
		VALUES ($1, 0, 0, 'webhook answered 503', now(), now())`, stream); err != nil {
		t.Fatal(err)
	}
	code, out, _ = call(append([]string{"projections", "status"}, conn...)...)
	line := regexp.MustCompile(`(?m)^` + stream + `\s+` + org + `\s+WEBHOOK\s+OCSF\s+0\s+([1-9]\d*)\s+0\s+0\s+\S+ webhook answered 503$`)
	if code != 0 || !line.MatchString(out) {
		t.Fatalf("status does not show the failing audit stream with its lag and error:\n%s", out)
	}

	if code, _, stderr = call(append([]string{"projections", "rebuild", "no-such-projection"}, conn...)...); code != 1 || stderr == "" {
		t.Fatalf("rebuild of an unknown projection: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ = call("projections", "rebuild"); code != 2 {
		t.Fatalf("rebuild without a name: exit %d, want 2", code)
	}
}
