package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// `arkiv audit as-of` answers from the events, as JSON, and records the read with its
// reason in an audit session; without a reason it refuses.
func TestAuditAsOfCommand(t *testing.T) {
	es := eventstoretest.New(t)
	kek := filepath.Join(t.TempDir(), "kek.json")
	keystore := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := []string{"--esdb-url", es.URL, "--keystore-url", keystore, "--kek-file", kek}
	cli := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		code := run(ctx, env, args)
		return out.String(), errOut.String(), code
	}
	out, errOut, code := cli(append([]string{"bootstrap", "--org", "Region Test", "--admin-email", "dpo@region.example"}, conn...)...)
	if code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut)
	}
	var b map[string]string
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	org, admin := b["organizationId"], b["adminUserId"]
	now := time.Now().UTC().Format(time.RFC3339Nano)
	const reason = "Annual DPIA review of the settings."

	if _, errOut, code := cli(append([]string{"audit", "as-of", "--org", org, "--actor", admin, "--at", now}, append(conn, "settings")...)...); code == 0 ||
		!strings.Contains(errOut, "--reason") {
		t.Fatalf("as-of without a reason: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(append([]string{"audit", "as-of", "--org", org, "--actor", admin, "--reason", reason, "--at", now}, append(conn, "galaxy")...)...); code == 0 ||
		!strings.Contains(errOut, "unknown question") {
		t.Fatalf("as-of with an unknown question: exit %d: %s", code, errOut)
	}
	out, errOut, code = cli(append([]string{"audit", "as-of", "--org", org, "--actor", admin, "--reason", reason, "--at", now}, append(conn, "settings")...)...)
	if code != 0 {
		t.Fatalf("as-of settings: exit %d: %s", code, errOut)
	}
	var ans struct {
		Question string
		Answer   struct {
			Exists   bool
			Settings domain.OrganizationSettings
		}
	}
	if err := json.Unmarshal([]byte(out), &ans); err != nil || ans.Question != domain.HistorySettings || !ans.Answer.Exists ||
		!ans.Answer.Settings.EUOnly {
		t.Fatalf("as-of settings: %s (%v)", out, err)
	}
	out, errOut, code = cli(append([]string{"audit", "as-of", "--org", org, "--actor", admin, "--reason", reason, "--at", now}, append(conn, "user", admin)...)...)
	if code != 0 || !strings.Contains(out, `"answer": []`) {
		t.Fatalf("as-of user: exit %d: %s %s", code, out, errOut)
	}

	// Both reads are recorded, in one session opened with the reason.
	recs, _, err := es.Store.Load(ctx, domain.AccessStream(org))
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for _, r := range recs {
		if r.Type == (domain.HistoryViewed{}).EventName() {
			views++
		}
	}
	sessions, _, err := es.Store.Load(ctx, domain.StreamPrefixAuditSession+admin)
	if err != nil || views != 2 || len(sessions) != 1 {
		t.Fatalf("%d as-of reads and %d sessions recorded (%v), want 2 and 1", views, len(sessions), err)
	}

	// The command line has no --actor: the operator's read is recorded as the
	// system actor, in the organisation --org names.
	out, errOut, code = cli(append([]string{"audit", "as-of", "--org", org, "--reason", reason, "--at", now}, append(conn, "settings")...)...)
	if code != 0 || !strings.Contains(out, `"question": "settings"`) {
		t.Fatalf("as-of without --actor: exit %d: %s %s", code, out, errOut)
	}
	recs, _, err = es.Store.Load(ctx, domain.AccessStream(org))
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Type != (domain.HistoryViewed{}).EventName() || !strings.Contains(string(last.Data), `"viewer":"`+domain.SystemActor+`"`) {
		t.Fatalf("the operator's as-of read is not recorded: %s %s", last.Type, last.Data)
	}
}
