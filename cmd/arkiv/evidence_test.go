package main

import (
	"archive/zip"
	"bytes"
	"context"
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

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/ledger"
)

// TestEvidenceExportAndVerify runs `arkiv evidence export` and `arkiv evidence verify`
// against the real embedded event store and key store: an organisation bootstrapped and
// reconfigured through the commands, a signed checkpoint, the bundle exported (and the
// export recorded as an event), verified offline, then tampered with.
func TestEvidenceExportAndVerify(t *testing.T) {
	a := newAuditLog(t)
	ctx := context.Background()
	kek := filepath.Join(t.TempDir(), "kek.json")
	wc := writeConfig{ESDBURL: a.conn, PGURL: a.dsn, KEKFile: kek}
	w, err := openWriteSide(ctx, &cliEnv{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}, wc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	app, err := usecase.NewApp(w.Deps, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Gemeente Test", AdminEmail: "dpo@example.org", AdminName: "Dee Peo"})
	if err != nil {
		t.Fatal(err)
	}
	s := domain.DefaultOrganizationSettings()
	s.SessionIdleTimeoutMinutes = 17
	if _, err := app.ChangeOrganizationSettings.Handle(ctx, usecase.ChangeOrganizationSettings{Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: b.AdminUserID}, Settings: s}); err != nil {
		t.Fatal(err)
	}
	from, to := time.Now().UTC().Add(-time.Hour), time.Now().UTC().Add(time.Hour)
	time.Sleep(20 * time.Millisecond)
	a.checkpoint(a.cp)

	dir := t.TempDir()
	pub := filepath.Join(dir, "ledger.pub")
	k, err := ledger.LoadKeyFile(a.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(k.VerifierKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.DiscardHandler)}
		code := run(ctx, env, args)
		if errOut.Len() > 0 {
			t.Logf("stderr of arkiv %s: %s", strings.Join(args, " "), errOut.String())
		}
		return code, out.String()
	}
	// A KEK rotation before the export: the bundle reports when it happened.
	if code, stdout := runCLI("keys", "rotate-kek", "--kek-file", kek, "--pg-url", a.dsn); code != 0 {
		t.Fatalf("rotate-kek exited %d: %s", code, stdout)
	}
	out := filepath.Join(dir, "evidence.zip")
	exportArgs := []string{"evidence", "export", "--org", b.OrganizationID, "--actor", b.AdminUserID,
		"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "--out", out,
		"--esdb-url", a.conn, "--pg-url", a.dsn, "--kek-file", kek, "--signing-key-file", a.keyFile}
	code, stdout := runCLI(exportArgs...)
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, stdout)
	}
	// The export is an event of the log.
	recs, err := a.store.ReadAll(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		if r.Type == (domain.EvidenceExported{}).EventName() && bytes.Contains(r.Metadata, []byte(b.AdminUserID)) {
			found = true
		}
	}
	if !found {
		t.Fatal("no access.evidence_exported.v1 event after the export")
	}
	if code, stdout := runCLI("evidence", "verify", out, "--key", pub); code != 0 || !strings.Contains(stdout, "evidence verified") {
		t.Fatalf("verify exited %d: %s", code, stdout)
	}
	// The command line has no --actor: the operator's export is recorded as the
	// system actor and verifies the same.
	opOut := filepath.Join(dir, "evidence-operator.zip")
	opArgs := []string{"evidence", "export", "--org", b.OrganizationID,
		"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "--out", opOut,
		"--esdb-url", a.conn, "--pg-url", a.dsn, "--kek-file", kek, "--signing-key-file", a.keyFile}
	if code, stdout := runCLI(opArgs...); code != 0 {
		t.Fatalf("export without --actor exited %d: %s", code, stdout)
	}
	if code, stdout := runCLI("evidence", "verify", opOut, "--key", pub); code != 0 {
		t.Fatalf("verify of the operator's export exited %d: %s", code, stdout)
	}
	// The bundle holds the settings as changed and no personal data.
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	zr.Close()
	if !bytes.Contains(files["deployment.json"], []byte(`"kekHolder": "file"`)) {
		t.Errorf("deployment.json lacks the KEK holder:\n%s", files["deployment.json"])
	}
	var dep struct {
		KEKVersions []uint32 `json:"kekVersions"`
		KEKHistory  []struct {
			Version             uint32     `json:"version"`
			InUseSince          time.Time  `json:"inUseSince"`
			RotationStartedAt   *time.Time `json:"rotationStartedAt"`
			RotationCompletedAt *time.Time `json:"rotationCompletedAt"`
			KeysRewrapped       int64      `json:"keysRewrapped"`
		} `json:"kekHistory"`
	}
	if err := json.Unmarshal(files["deployment.json"], &dep); err != nil {
		t.Fatal(err)
	}
	if len(dep.KEKHistory) != 2 || dep.KEKHistory[0].RotationCompletedAt != nil || dep.KEKHistory[1].RotationCompletedAt == nil ||
		dep.KEKHistory[1].Version != 2 || dep.KEKHistory[1].KeysRewrapped == 0 || dep.KEKHistory[1].RotationCompletedAt.Before(from) {
		t.Errorf("deployment.json's KEK history does not show the rotation:\n%s", files["deployment.json"])
	}
	if !bytes.Contains(files["report.html"], []byte("last rotated on")) {
		t.Error("the report does not state the KEK's last rotation")
	}
	if !bytes.Contains(files["configuration.json"], []byte(`"sessionIdleTimeoutMinutes": 17`)) {
		t.Errorf("configuration.json lacks the changed setting:\n%s", files["configuration.json"])
	}
	for name, data := range files {
		for _, pii := range []string{"dpo@example.org", "Dee Peo", "Gemeente Test"} {
			if bytes.Contains(data, []byte(pii)) {
				t.Errorf("%s holds %q", name, pii)
			}
		}
	}
	// A changed byte in one file fails, naming the file.
	files["safeguards.json"] = append(files["safeguards.json"], ' ')
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		fw, _ := zw.Create(name)
		fw.Write(data)
	}
	zw.Close()
	bad := filepath.Join(dir, "tampered.zip")
	if err := os.WriteFile(bad, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout := runCLI("evidence", "verify", bad, "--key", pub); code != 1 || !strings.Contains(stdout, "safeguards.json") || !strings.Contains(stdout, "size check") {
		t.Fatalf("verify of a tampered bundle exited %d: %s", code, stdout)
	}
	// With names: the Admin's name, never an erased user's.
	erased, err := app.RegisterUser.Handle(ctx, usecase.RegisterUser{Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: b.AdminUserID},
		Email: "erin@example.org", Name: "Erin Erased", Role: domain.OrgRoleUser})
	if err != nil {
		t.Fatal(err)
	}
	kekKey, err := keyring.LoadOrCreateKEKFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	ksDSN, err := keyring.KeystoreURL("", a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	ksPool, err := pgxpool.New(ctx, ksDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer ksPool.Close()
	kr, err := keyring.Open(ctx, ksPool, kekKey, domain.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	if err := kr.StartShredding(ctx, domain.UserSubject(erased.ID), "erasure", b.AdminUserID, 0); err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(dir, "named.zip")
	namedArgs := append(append([]string(nil), exportArgs...), "--with-names")
	namedArgs[11] = named
	if code, stdout := runCLI(namedArgs...); code != 0 {
		t.Fatalf("export --with-names exited %d: %s", code, stdout)
	}
	nz, err := zip.OpenReader(named)
	if err != nil {
		t.Fatal(err)
	}
	var acc []byte
	for _, f := range nz.File {
		if f.Name == "access-control.json" {
			rc, _ := f.Open()
			acc, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	nz.Close()
	if !bytes.Contains(acc, []byte("Dee Peo")) || bytes.Contains(acc, []byte("Erin Erased")) || !bytes.Contains(acc, []byte(erased.ID)) {
		t.Errorf("--with-names: want the Admin's name and the erased user's id only:\n%s", acc)
	}

	// A non-Admin's export is refused and leaves no bundle.
	other := filepath.Join(dir, "other.zip")
	exportArgs[5] = uuid.NewString()
	exportArgs[11] = other
	if code, _ := runCLI(exportArgs...); code == 0 {
		t.Fatal("an export on behalf of an unknown user succeeded")
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatal("a refused export left its bundle")
	}
}

// TestEvidenceUsageErrors: a bad command line is exit status 2, naming what is wrong.
func TestEvidenceUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"evidence"}, "usage: arkiv evidence"},
		{[]string{"evidence", "export", "--org", "o"}, "usage: arkiv evidence"},
		{[]string{"evidence", "export", "--org", "o", "--actor", "a", "--from", "yesterday", "--to", "2026-01-02", "--out", "x.zip",
			"--esdb-url", "esdb://127.0.0.1:1", "--kek-file", "k", "--signing-key-file", "s"}, `--from "yesterday"`},
		{[]string{"evidence", "export", "--org", "o", "--actor", "a", "--from", "2026-02-01", "--to", "2026-01-01", "--out", "x.zip",
			"--esdb-url", "esdb://127.0.0.1:1", "--kek-file", "k", "--signing-key-file", "s"}, "--from must be before --to"},
		{[]string{"evidence", "verify", "x.zip"}, "--key FILE"},
	} {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.DiscardHandler)}
		if code := run(context.Background(), env, c.args); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("arkiv %s: exit %d, stderr %q; want 2 naming %q", strings.Join(c.args, " "), code, errOut.String(), c.want)
		}
	}
}
