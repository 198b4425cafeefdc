package graphql_test

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testAuditExportInBackground: exportAuditLog(background: true) builds the export on the
// server; auditExportJob reports it to the Admin who started it; /exports/{id} serves the
// file, byte for byte the inline export of the same filter, with its SHA-256 and size; nobody
// else (another Admin, another organisation's Admin, no credentials) sees or downloads it.
func testAuditExportInBackground(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	_, admin2Key := s.user(t, o, "ADMIN")
	other := s.newOrg(t, testSettings())
	s.ok(t, o.adminKey, `mutation($in: GrantOrgRoleInput!) { grantOrgRole(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"userId": uid, "role": "CREATOR"}})
	const why = "Export of the trail for the annual audit."
	const qSession = `query { auditSession { id openedAt expiresAt secondsLeft } }`
	if r := s.ok(t, o.adminKey, qSession, nil); r["auditSession"] != nil {
		t.Fatalf("an audit session before any justified read: %v", r)
	}
	s.waitFor(t, func() bool {
		r := s.ok(t, o.adminKey, `query { auditLog(filter: {action: "user.role_changed.v1"}, justification: "`+why+`") { edges { cursor } } }`, nil)
		return len(r["auditLog"].(map[string]any)["edges"].([]any)) > 0
	})
	// The justified read opened an hour's audit session; the caller sees how long it has left.
	sess, _ := s.ok(t, o.adminKey, qSession, nil)["auditSession"].(map[string]any)
	opened, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(sess["openedAt"]))
	expires, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(sess["expiresAt"]))
	if left, _ := sess["secondsLeft"].(float64); sess == nil || expires.Sub(opened) != time.Hour || left < 3000 || left > 3600 {
		t.Fatalf("audit session after a justified read: %v", sess)
	}
	if r := s.ok(t, ukey, qSession, nil); r["auditSession"] != nil {
		t.Fatalf("another user sees an audit session: %v", r)
	}
	// A fixed end, before either export is itself recorded, so both see the same entries.
	to := s.clock.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	filter := map[string]any{"to": to}
	const export = `mutation($f: AuditExportFormat!, $filter: AuditFilter, $bg: Boolean) {
		exportAuditLog(format: $f, filter: $filter, justification: "` + why + `", background: $bg) { content rows complete job { id status } } }`
	inline := s.ok(t, o.adminKey, export, map[string]any{"f": "JSONL", "filter": filter})["exportAuditLog"].(map[string]any)
	if inline["complete"] != true || inline["rows"].(float64) < 3 {
		t.Fatalf("inline export: %v", inline)
	}

	downloads := httptest.NewServer(s.p.Exports())
	defer downloads.Close()
	get := func(token, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, downloads.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	const poll = `query($id: ID!) { auditExportJob(id: $id) { id status format rows progress downloadUrl fileName sha256 size footer error expiresAt } }`
	run := func(format string) (map[string]any, []byte) {
		t.Helper()
		x := s.ok(t, o.adminKey, export, map[string]any{"f": format, "filter": filter, "bg": true})["exportAuditLog"].(map[string]any)
		job := x["job"].(map[string]any)
		if x["content"] != "" || job["id"] == "" {
			t.Fatalf("background export answered %v", x)
		}
		id := job["id"].(string)
		for deadline := time.Now().Add(30 * time.Second); job["status"] == "RUNNING"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the job is still running: %v", job)
			}
			job = s.ok(t, o.adminKey, poll, map[string]any{"id": id})["auditExportJob"].(map[string]any)
		}
		if job["status"] != "DONE" || job["progress"] != 1.0 || job["downloadUrl"] != "/exports/"+id || job["format"] != format {
			t.Fatalf("finished job: %v", job)
		}
		resp, body := get(o.adminKey, job["downloadUrl"].(string))
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), job["fileName"].(string)) ||
			resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != job["sha256"] || float64(len(body)) != job["size"] {
			t.Fatalf("the download does not match the job's hash and size (%d bytes): %v", len(body), job)
		}
		return job, body
	}
	job, body := run("JSONL")
	if string(body) != inline["content"] || job["rows"] != inline["rows"] || !strings.Contains(job["footer"].(string), `"complete":true`) {
		t.Fatalf("the background file differs from the inline export:\n%s\n---\n%s", body, inline["content"])
	}
	_, csvBody := run("CSV")
	recs, err := csv.NewReader(strings.NewReader(string(csvBody))).ReadAll()
	if err != nil || len(recs) != int(inline["rows"].(float64))+2 || recs[len(recs)-1][0] != "#footer" {
		t.Fatalf("CSV download: %v, %v", len(recs), err)
	}

	// Nobody else sees or gets the file.
	id := job["id"].(string)
	if r := s.ok(t, admin2Key, poll, map[string]any{"id": id}); r["auditExportJob"] != nil {
		t.Fatalf("another Admin sees the job: %v", r)
	}
	if r := s.ok(t, other.adminKey, poll, map[string]any{"id": id}); r["auditExportJob"] != nil {
		t.Fatalf("another organisation's Admin sees the job: %v", r)
	}
	if r := s.do(t, ukey, poll, map[string]any{"id": id}); r.code() != "FORBIDDEN" {
		t.Fatalf("a Creator polled the job: %+v", r)
	}
	for who, key := range map[string]string{"another Admin": admin2Key, "another organisation's Admin": other.adminKey, "a Creator": ukey} {
		if resp, b := get(key, "/exports/"+id); resp.StatusCode != http.StatusNotFound || len(b) > 0 && strings.Contains(string(b), "role_changed") {
			t.Errorf("%s downloading: %d", who, resp.StatusCode)
		}
	}
	if resp, _ := get("", "/exports/"+id); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an anonymous download: %d", resp.StatusCode)
	}
	if resp, _ := get("not-a-key", "/exports/"+id); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a download with a bad key: %d", resp.StatusCode)
	}
	if resp, _ := get(o.adminKey, "/exports/not-an-id"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a download of no export: %d", resp.StatusCode)
	}
	// Each background export is recorded like an inline one (three exports so far).
	s.waitFor(t, func() bool {
		r := s.ok(t, o.adminKey, `query { auditLog(filter: {action: "access.audit_log_exported.v1"}, justification: "`+why+`") { edges { cursor } } }`, nil)
		return len(r["auditLog"].(map[string]any)["edges"].([]any)) >= 3
	})
}
