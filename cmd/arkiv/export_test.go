package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/portability"
)

// TestExportSubjectAndOrganization runs `arkiv export subject` and `arkiv export
// organization` (to a directory and to a zip) against the embedded event store and key
// store: the files hold the decrypted data, verify against their manifest, the exports are
// recorded, and an existing output or a user of another organisation is refused.
func TestExportSubjectAndOrganization(t *testing.T) {
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
	b, err := app.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun CLI", AdminEmail: "dpo@cli.se", AdminName: "Cli Kanarie"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := app.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun Annan", AdminEmail: "dpo@annan.se", AdminName: "Annan Hemlis"})
	if err != nil {
		t.Fatal(err)
	}
	runCLI := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.DiscardHandler)}
		code := run(ctx, env, append(args, "--esdb-url", a.conn, "--pg-url", a.dsn, "--kek-file", kek))
		return code, out.String() + errOut.String()
	}
	dir := t.TempDir()
	subj := filepath.Join(dir, "subject.zip")
	if code, out := runCLI("export", "subject", "--org", b.OrganizationID, "--user", b.AdminUserID, "--out", subj); code != 0 {
		t.Fatalf("export subject exited %d: %s", code, out)
	}
	zr, err := zip.OpenReader(subj)
	if err != nil {
		t.Fatal(err)
	}
	var doc []byte
	for _, f := range zr.File {
		if f.Name == "subject.json" {
			r, _ := f.Open()
			doc, _ = io.ReadAll(r)
			r.Close()
		}
	}
	zr.Close()
	if !bytes.Contains(doc, []byte("Cli Kanarie")) || bytes.Contains(doc, []byte("Annan Hemlis")) {
		t.Errorf("subject.json: %s", doc)
	}
	if code, out := runCLI("export", "subject", "--org", b.OrganizationID, "--user", b.AdminUserID, "--out", subj); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("an existing output: %d %s", code, out)
	}
	if code, _ := runCLI("export", "subject", "--org", b.OrganizationID, "--user", other.AdminUserID, "--out", filepath.Join(dir, "x.zip")); code == 0 {
		t.Error("a user of another organisation was exported")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.zip")); err == nil {
		t.Error("a refused export left a file")
	}

	outDir, outZip := filepath.Join(dir, "org"), filepath.Join(dir, "org.zip")
	for _, out := range []string{outDir, outZip} {
		if code, msg := runCLI("export", "organization", "--org", b.OrganizationID, "--out", out); code != 0 {
			t.Fatalf("export organization %s exited %d: %s", out, code, msg)
		}
	}
	m, err := portability.VerifyOrganization(os.DirFS(outDir))
	if err != nil {
		t.Fatal(err)
	}
	zo, err := zip.OpenReader(outZip)
	if err != nil {
		t.Fatal(err)
	}
	defer zo.Close()
	mz, err := portability.VerifyOrganization(zo)
	if err != nil {
		t.Fatal(err)
	}
	if m.Organization != b.OrganizationID || m.Events == 0 || mz.Types[(domain.UserRegistered{}).EventName()] != 1 {
		t.Errorf("manifests %+v %+v", m, mz)
	}
	members, _ := os.ReadFile(filepath.Join(outDir, portability.FileMembers))
	if !bytes.Contains(members, []byte("Cli Kanarie")) || bytes.Contains(members, []byte("Annan Hemlis")) {
		t.Errorf("members.jsonl: %s", members)
	}
	// Both exports are recorded.
	recs, err := a.store.ReadAll(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r.Type]++
	}
	if kinds[(domain.SubjectDataExported{}).EventName()] != 1 || kinds[(domain.OrganizationExported{}).EventName()] != 2 {
		t.Errorf("recorded exports: %v", kinds)
	}
}
