package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// history builds a log in memory exactly as the store holds it: chained metadata, leaves of
// the ledger's tree, and signed checkpoint events.
type history struct {
	org     string
	entries []ledger.Entry
	heads   map[string]string
	revs    map[string]uint64
	tree    *ledger.Tree
	signer  note.Signer
	pos     uint64
}

func (h *history) add(stream, typ string, at time.Time, actor, space, org string, data any) ledger.Entry {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	md, _ := json.Marshal(domain.Metadata{Actor: actor, Organization: org, Space: space, CommandID: uuid.NewString(), SchemaVersion: 1,
		PrevHash: h.heads[stream], OccurredAt: at})
	h.pos += 100
	e := ledger.Entry{EventID: uuid.NewString(), Stream: stream, Revision: h.revs[stream], Position: h.pos, Type: typ, Created: at, Data: b, Metadata: md}
	h.heads[stream] = domain.EventHash(e.EventID, e.Type, e.Data, e.Metadata)
	h.revs[stream]++
	h.tree.Append(ledger.LeafOf(e).Hash(), nil)
	h.entries = append(h.entries, e)
	return e
}

func (h *history) checkpoint(at time.Time) {
	cp := ledger.Checkpoint{Origin: h.signer.Name(), Size: h.tree.Size(), Root: h.tree.Root()}
	n, err := cp.Sign(h.signer)
	if err != nil {
		panic(err)
	}
	h.add(ledger.DefaultStream, ledger.CheckpointType, at, domain.SystemActor, "", "",
		ledger.CheckpointData{Note: string(n), Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root)})
}

type sliceSource []ledger.Entry

func (s sliceSource) Scan(ctx context.Context, fn func(ledger.Entry) error) error {
	for _, e := range s {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// expected is the test's own tally of the window's events, kept while generating them.
type expected struct {
	denials      map[string]int
	loginsOK     int
	loginsFailed map[string]int
	calls        map[string]int
	excerpts     map[string]int
	erasures     map[string]int
	retention    int
	auditReads   int
}

var (
	t0       = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	winFrom  = t0.AddDate(0, 0, 30)
	winTo    = t0.AddDate(0, 0, 60)
	orgID    = "4b1f6a2e-0c1d-4e5f-8a9b-1c2d3e4f5a6b"
	adminID  = "a0000000-0000-4000-8000-000000000001"
	userID   = "a0000000-0000-4000-8000-000000000002"
	spaceID  = "5a000000-0000-4000-8000-000000000001"
	keyID    = "ce000000-0000-4000-8000-000000000001"
	otherOrg = "0e000000-0000-4000-8000-00000000ffff"
)

func settings(idle int, mfa bool) domain.OrganizationSettings {
	s := domain.DefaultOrganizationSettings()
	s.SessionIdleTimeoutMinutes = idle
	s.MFARequired = mfa
	s.Models = []domain.AllowedModel{{ID: "llm-eu", Endpoint: "https://llm.example.eu/v1", Region: "EU", MaxClassification: "CONFIDENTIAL"}}
	return s
}

// scriptedHistory is 90 days of one organisation (and a little of another), with settings
// changed before, inside and after the 30-day window of days 30–60.
func scriptedHistory(t testing.TB, signer note.Signer, perDay int) (*history, expected) {
	h := &history{org: orgID, heads: map[string]string{}, revs: map[string]uint64{}, tree: ledger.NewTree(), signer: signer}
	ex := expected{denials: map[string]int{}, loginsFailed: map[string]int{}, calls: map[string]int{}, excerpts: map[string]int{}, erasures: map[string]int{}}
	orgS, spaceS := "org-"+orgID, "space-"+spaceID
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	h.add(orgS, "organization.created.v1", day(0), adminID, "", orgID, map[string]any{"organizationId": orgID, "name": "ak1.sealed-name", "settings": settings(30, true)})
	h.add("user-"+adminID, "user.registered.v1", day(0), adminID, "", orgID, map[string]any{"userId": adminID, "organizationId": orgID, "email": "ak1.x", "name": "ak1.y", "role": "ADMIN"})
	h.add("user-"+userID, "user.registered.v1", day(0), adminID, "", orgID, map[string]any{"userId": userID, "organizationId": orgID, "email": "ak1.x", "name": "ak1.y", "role": "USER"})
	h.add(spaceS, "space.created.v1", day(0), adminID, spaceID, orgID, map[string]any{"spaceId": spaceID, "organizationId": orgID, "name": "ak1.z", "classification": "CONFIDENTIAL", "createdBy": adminID})
	h.add(spaceS, "space.member_added.v1", day(0), adminID, spaceID, orgID, map[string]any{"spaceId": spaceID, "userId": adminID, "role": "SPACE_ADMIN"})
	h.add("org-"+otherOrg, "organization.created.v1", day(0), "x", "", otherOrg, map[string]any{"organizationId": otherOrg, "name": "ak1.o", "settings": settings(5, false)})
	h.add("assistant-as1", "assistant.created.v1", day(5), adminID, spaceID, orgID, map[string]any{"assistantId": "as1", "organizationId": orgID, "spaceId": spaceID,
		"name": "ak1.n", "instructions": "ak1.i", "model": "llm-eu", "retentionDays": 30})
	h.add(orgS, "organization.settings_changed.v1", day(10), adminID, "", orgID, map[string]any{"organizationId": orgID, "settings": settings(15, true)})
	h.add("apikey-"+keyID, "apikey.created.v1", day(20), adminID, "", orgID, map[string]any{"keyId": keyID, "organizationId": orgID, "ownerKind": "user", "ownerId": adminID, "prefix": "ak_live_ab12", "hash": "SECRET-HASH", "createdBy": adminID})
	h.checkpoint(day(20))

	rng := rand.New(rand.NewPCG(1, 2))
	reasons := []string{"role", "not_member", "erased"}
	fails := []string{"bad_password", "unknown_user"}
	regions := []domain.Region{"EU", "ONPREM"}
	n := 0
	for d := 0; d < 90; d++ {
		for i := 0; i < perDay; i++ {
			at := day(d).Add(time.Duration(i) * time.Minute)
			in := !at.Before(winFrom) && at.Before(winTo)
			n++
			switch k := rng.IntN(7); k {
			case 0:
				r := reasons[rng.IntN(len(reasons))]
				h.add("access-"+orgID, "access.denied.v1", at, userID, "", orgID, map[string]any{"actor": userID, "command": "ChangeOrganizationSettings", "reason": r, "deniedAt": at})
				if in {
					ex.denials[r]++
				}
			case 1:
				h.add("access-"+orgID, "access.login_succeeded.v1", at, domain.SystemActor, "", orgID, map[string]any{"organizationId": orgID, "userId": userID, "loginDigest": "d", "succeededAt": at})
				if in {
					ex.loginsOK++
				}
			case 2:
				r := fails[rng.IntN(len(fails))]
				h.add("access-"+orgID, "access.login_failed.v1", at, domain.SystemActor, "", orgID, map[string]any{"organizationId": orgID, "loginDigest": "d", "reason": r, "failedAt": at})
				if in {
					ex.loginsFailed[r]++
				}
			case 3:
				reg := regions[rng.IntN(len(regions))]
				nx := 1 + rng.IntN(4)
				exc := make([]map[string]any, nx)
				for j := range exc {
					exc[j] = map[string]any{"documentId": "doc", "chunkIndex": j, "score": 0.5}
				}
				h.add("conversation-c1", "conversation.model_invocation_recorded.v1", at, userID, spaceID, orgID,
					map[string]any{"conversationId": "c1", "invocationId": uuid.NewString(), "model": "llm-eu", "region": reg, "excerpts": exc, "requestParts": []map[string]any{{"text": "ak1.part"}}, "invokedAt": at})
				if in {
					ex.calls[string(reg)]++
					ex.excerpts[string(reg)] += nx
				}
			case 4:
				eid := uuid.NewString()
				h.add("erasure-"+eid, "erasure.requested.v1", at, adminID, "", orgID, map[string]any{"erasureId": eid, "organizationId": orgID, "subjectType": "user", "subjectId": uuid.NewString()})
				h.add("erasure-"+eid, "erasure.completed.v1", at.Add(time.Second), domain.SystemActor, "", orgID, map[string]any{"erasureId": eid, "subjectType": "user", "subjectId": "s"})
				if in {
					ex.erasures["requested"]++
					ex.erasures["completed"]++
				}
			case 5:
				h.add("retention-"+orgID, "retention.bucket_destroyed.v1", at, domain.SystemActor, "", orgID, map[string]any{"organizationId": orgID, "bucketKind": "retention", "bucket": "b", "day": "2026-01-01"})
				if in {
					ex.retention++
				}
			case 6:
				h.add("access-"+orgID, "access.audit_log_viewed.v1", at, adminID, "", orgID, map[string]any{"viewer": adminID, "justification": "ak1.just", "viewedAt": at})
				if in {
					ex.auditReads++
				}
			}
			if n%50 == 0 {
				h.checkpoint(at)
			}
		}
		switch d {
		case 40:
			h.add("org-"+orgID, "organization.settings_changed.v1", day(40).Add(12*time.Hour), adminID, "", orgID, map[string]any{"organizationId": orgID, "settings": settings(20, true)})
		case 50:
			h.add("assistant-as1", "assistant.updated.v1", day(50).Add(12*time.Hour), adminID, spaceID, orgID, map[string]any{"assistantId": "as1",
				"name": "ak1.n", "instructions": "ak1.i", "model": "llm-eu", "retentionDays": 60})
		case 45:
			h.add("user-"+userID, "user.role_changed.v1", day(45).Add(12*time.Hour), adminID, "", orgID, map[string]any{"userId": userID, "role": "CREATOR"})
		case 70:
			h.add("org-"+orgID, "organization.settings_changed.v1", day(70).Add(12*time.Hour), adminID, "", orgID, map[string]any{"organizationId": orgID, "settings": settings(45, false)})
		}
	}
	h.checkpoint(day(90))
	return h, ex
}

func testKey(t testing.TB) (note.Signer, note.Verifiers) {
	skey, vkey, err := note.GenerateKey(nil, "test.arkiv/ledger")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, note.VerifierList(v)
}

func export(t testing.TB, h *history, signer note.Signer, keys note.Verifiers, signedAt time.Time) ([]byte, Result) {
	var buf bytes.Buffer
	res, err := Export(context.Background(), sliceSource(h.entries), Request{Organization: orgID, From: winFrom, To: winTo, Version: "test",
		Keys: keys, Signer: signer, SignedAt: signedAt}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func unzip(t testing.TB, b []byte) map[string][]byte {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

func rezip(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes()
}

func TestExportWindowOfNinetyDays(t *testing.T) {
	signer, keys := testKey(t)
	h, ex := scriptedHistory(t, signer, 20)
	b, res := export(t, h, signer, keys, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if !res.Verification.OK {
		t.Fatalf("verification of the scripted log failed: %+v", res.Verification.Failure)
	}
	if _, err := Verify(bytes.NewReader(b), int64(len(b)), keys); err != nil {
		t.Fatalf("a fresh bundle does not verify: %v", err)
	}
	files := unzip(t, b)
	var conf configurationDoc
	if err := json.Unmarshal(files[FileConfiguration], &conf); err != nil {
		t.Fatal(err)
	}
	// Settings changed before the window are the starting state; the change after it is absent.
	if got := conf.Start.Settings.SessionIdleTimeoutMinutes; got != 15 {
		t.Errorf("idle timeout at the start = %d, want 15 (the change of day 10)", got)
	}
	if got := conf.End.Settings.SessionIdleTimeoutMinutes; got != 20 {
		t.Errorf("idle timeout at the end = %d, want 20 (day 40; day 70 is after the window)", got)
	}
	if !conf.End.Settings.MFARequired {
		t.Error("MFA at the end is off: the change of day 70 leaked into the window")
	}
	if len(conf.Changes) != 2 || conf.Changes[0].Actor != adminID || !conf.Changes[0].At.Equal(t0.AddDate(0, 0, 40).Add(12*time.Hour)) ||
		conf.Changes[1].Type != "assistant.updated.v1" {
		t.Errorf("changes = %+v, want the settings of day 40 and the assistant of day 50, by the admin", conf.Changes)
	}
	if len(conf.Start.Assistants) != 1 || conf.Start.Assistants[0].RetentionDays != 30 || conf.End.Assistants[0].RetentionDays != 60 {
		t.Errorf("assistants: start %+v, end %+v; want retention 30 then 60", conf.Start.Assistants, conf.End.Assistants)
	}
	var acc accessDoc
	if err := json.Unmarshal(files[FileAccess], &acc); err != nil {
		t.Fatal(err)
	}
	roleOf := func(s accessState, id string) domain.OrgRole {
		for _, u := range s.Users {
			if u.ID == id {
				return u.Role
			}
		}
		return ""
	}
	if roleOf(acc.Start, userID) != "USER" || roleOf(acc.End, userID) != "CREATOR" || len(acc.Changes) != 1 {
		t.Errorf("role of %s: start %s end %s, %d changes; want USER, CREATOR, 1", userID, roleOf(acc.Start, userID), roleOf(acc.End, userID), len(acc.Changes))
	}
	if len(acc.APIKeys) != 1 || acc.APIKeys[0].Prefix != "ak_live_ab12" {
		t.Errorf("api keys = %+v", acc.APIKeys)
	}
	if len(acc.RBAC) != len(domain.Commands()) {
		t.Errorf("RBAC matrix has %d rows, the table %d", len(acc.RBAC), len(domain.Commands()))
	}
	for name, data := range files {
		for _, secret := range []string{"SECRET-HASH", otherOrg} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds %q", name, secret)
			}
		}
	}
	var saf safeguardsDoc
	if err := json.Unmarshal(files[FileSafeguards], &saf); err != nil {
		t.Fatal(err)
	}
	asMap := func(cs []countEntry) map[string]int {
		m := map[string]int{}
		for _, c := range cs {
			m[c.Key] = c.Count
		}
		return m
	}
	eq := func(what string, got, want map[string]int) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s[%s] = %d, want %d", what, k, got[k], v)
			}
		}
		for k, v := range got {
			if want[k] != v {
				t.Errorf("%s[%s] = %d, want %d", what, k, v, want[k])
			}
		}
	}
	eq("denials", asMap(saf.DenialsByReason), ex.denials)
	eq("login failures", asMap(saf.LoginsFailed), ex.loginsFailed)
	ex.erasures["restored"] += 0
	eq("erasures", asMap(saf.Erasures), map[string]int{"requested": ex.erasures["requested"], "completed": ex.erasures["completed"], "restored": 0})
	if saf.LoginsSucceeded != ex.loginsOK {
		t.Errorf("logins = %d, want %d", saf.LoginsSucceeded, ex.loginsOK)
	}
	calls, excerpts := map[string]int{}, map[string]int{}
	for _, m := range saf.ModelCalls {
		if m.Classification != "CONFIDENTIAL" {
			t.Errorf("model calls of classification %q, want the space's CONFIDENTIAL", m.Classification)
		}
		calls[string(m.Region)] += m.Calls
		excerpts[string(m.Region)] += m.Excerpts
	}
	eq("calls", calls, ex.calls)
	eq("excerpts", excerpts, ex.excerpts)
	if n := asMap(saf.RetentionByBucket)["retention"]; n != ex.retention {
		t.Errorf("retention = %d, want %d", n, ex.retention)
	}
	if len(saf.AuditReads) != ex.auditReads || len(saf.ErasureCerts) != ex.erasures["completed"] {
		t.Errorf("audit reads %d (want %d), certificates %d (want %d)", len(saf.AuditReads), ex.auditReads, len(saf.ErasureCerts), ex.erasures["completed"])
	}
	for _, r := range saf.AuditReads {
		if !strings.HasPrefix(r.JustificationRef, "sha256:") {
			t.Errorf("audit read without a sealed justification ref: %+v", r)
		}
	}
	var integ integrityDoc
	if err := json.Unmarshal(files[FileIntegrity], &integ); err != nil {
		t.Fatal(err)
	}
	if !integ.Verification.OK || len(integ.Checkpoints) < 3 || res.Manifest.Checkpoint == nil || !res.Manifest.Checkpoint.Covers {
		t.Errorf("integrity: %+v, manifest checkpoint %+v", integ.Verification, res.Manifest.Checkpoint)
	}
	if c := res.Manifest.Checkpoint; c.Size < integ.PeriodLeaves[1] {
		t.Errorf("covering checkpoint of size %d does not cover the period's leaves %v", c.Size, integ.PeriodLeaves)
	}
	if !bytes.Contains(files[FileReportHTML], []byte(`href="configuration.json#/atStart/settings/mfaRequired"`)) {
		t.Error("the report does not link its claims to the JSON backing them")
	}
	for _, h := range headings {
		if !bytes.Contains(files[FileReportHTML], []byte(h)) {
			t.Errorf("report lacks the heading %q", h)
		}
	}
}

func TestExportIsReproducible(t *testing.T) {
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 5)
	a, _ := export(t, h, signer, keys, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	b, _ := export(t, h, signer, keys, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	fa, fb := unzip(t, a), unzip(t, b)
	for name, data := range fa {
		if name == ManifestFile || name == SignatureFile {
			continue
		}
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between two exports of the same period", name)
		}
	}
	var ma, mb Manifest
	json.Unmarshal(fa[ManifestFile], &ma)
	json.Unmarshal(fb[ManifestFile], &mb)
	ma.SignedAt, mb.SignedAt = time.Time{}, time.Time{}
	ja, _ := ma.Encode()
	jb, _ := mb.Encode()
	if !bytes.Equal(ja, jb) {
		t.Error("the manifests differ in more than the signing time")
	}
}

func TestVerifyNamesTampering(t *testing.T) {
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 3)
	b, _ := export(t, h, signer, keys, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	files := unzip(t, b)
	check := func(name string, mutate func(map[string][]byte), wantFile, wantCheck string, keys note.Verifiers) {
		t.Helper()
		fs := map[string][]byte{}
		for k, v := range files {
			fs[k] = append([]byte(nil), v...)
		}
		mutate(fs)
		z := rezip(t, fs)
		_, err := Verify(bytes.NewReader(z), int64(len(z)), keys)
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.File != wantFile || ve.Check != wantCheck {
			t.Errorf("%s: got %v, want %s check on %s", name, err, wantCheck, wantFile)
		}
	}
	for name := range files {
		if name == ManifestFile || name == SignatureFile {
			continue
		}
		check("flip a byte of "+name, func(fs map[string][]byte) { fs[name][len(fs[name])/2] ^= 1 }, name, CheckSHA256, keys)
		check("remove "+name, func(fs map[string][]byte) { delete(fs, name) }, name, CheckPresent, keys)
		check("append to "+name, func(fs map[string][]byte) { fs[name] = append(fs[name], ' ') }, name, CheckSize, keys)
	}
	check("extra file", func(fs map[string][]byte) { fs["zz-extra.json"] = []byte("{}") }, "zz-extra.json", CheckExtra, keys)
	check("edit the manifest", func(fs map[string][]byte) {
		fs[ManifestFile] = bytes.Replace(fs[ManifestFile], []byte(`"withNames": false`), []byte(`"withNames": true`), 1)
	}, ManifestFile, CheckSignature, keys)
	check("edit the signature", func(fs map[string][]byte) {
		s := fs[SignatureFile]
		s[len(s)-5] ^= 1
	}, SignatureFile, CheckSignature, keys)
	check("remove the signature", func(fs map[string][]byte) { delete(fs, SignatureFile) }, SignatureFile, CheckPresent, keys)
	_, other := testKey(t)
	check("another key", func(map[string][]byte) {}, SignatureFile, CheckSignature, other)
	// A re-signed manifest naming a forged checkpoint is caught by the checkpoint check.
	check("forged checkpoint", func(fs map[string][]byte) {
		var m Manifest
		json.Unmarshal(fs[ManifestFile], &m)
		m.Checkpoint.Size++
		mb, _ := m.Encode()
		fs[ManifestFile] = mb
		sig, _ := note.Sign(&note.Note{Text: string(mb)}, signer)
		fs[SignatureFile] = sig
	}, ManifestFile, CheckCheckpoint, keys)
}

func TestPDFRenders(t *testing.T) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Fatal("pdftoppm (Debian poppler-utils) is required: tools/ensure-deps.sh installs it")
	}
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 3)
	b, _ := export(t, h, signer, keys, time.Now())
	dir := t.TempDir()
	pdf := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(pdf, unzip(t, b)[FileReportPDF], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdftoppm", "-png", "-r", "40", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) == 0 {
		t.Fatal("no page rendered")
	}
	for _, p := range pages {
		st, err := os.Stat(p)
		if err != nil || st.Size() < 1000 {
			t.Errorf("page %s is empty (%v)", p, err)
		}
	}
	fmt.Fprintln(io.Discard, pages)
}

// TestExportReportsATamperedLog: an event altered under a signed checkpoint makes the
// bundle's verification fail, naming the check, and the bundle says so.
func TestExportReportsATamperedLog(t *testing.T) {
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 3)
	for i := range h.entries {
		if h.entries[i].Type == "access.login_failed.v1" {
			h.entries[i].Data = bytes.Replace(h.entries[i].Data, []byte(`"reason":"`), []byte(`"reason":"x`), 1)
			break
		}
	}
	b, res := export(t, h, signer, keys, time.Now())
	if res.Verification.OK || res.Verification.Failure == nil {
		t.Fatal("a tampered log verified")
	}
	var integ integrityDoc
	if err := json.Unmarshal(unzip(t, b)[FileIntegrity], &integ); err != nil {
		t.Fatal(err)
	}
	if integ.Verification.OK || integ.Verification.Failure == nil || integ.Verification.Failure.Check == "" {
		t.Errorf("integrity.json does not report the failure: %+v", integ.Verification)
	}
	// Another organisation's id yields no bundle.
	var buf bytes.Buffer
	_, err := Export(context.Background(), sliceSource(h.entries), Request{Organization: "nobody", From: winFrom, To: winTo, Keys: keys, Signer: signer}, &buf)
	if !errors.Is(err, ErrNoOrganization) {
		t.Errorf("export of an unknown organisation: %v", err)
	}
}
