package readmodels_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/readmodels"
)

// fixedCheckpoints stands in for the ledger: it signs nothing, it only names the position.
type fixedCheckpoints struct{}

func (fixedCheckpoints) CheckpointCovering(_ context.Context, pos uint64) (string, error) {
	return "checkpoint covering " + strconv.FormatUint(pos, 10), nil
}

// jsonLines splits a JSONL export into its entries and its footer.
func jsonLines(t *testing.T, b []byte) ([]map[string]any, readmodels.AuditExportFooter) {
	t.Helper()
	var out []map[string]any
	var foot *readmodels.AuditExportFooter
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if foot != nil {
			t.Fatal("a line after the footer")
		}
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if f, ok := line["footer"]; ok {
			foot = &readmodels.AuditExportFooter{}
			if err := json.Unmarshal(f, foot); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		out = append(out, m)
	}
	if foot == nil {
		t.Fatal("no footer")
	}
	return out, *foot
}

func TestAuditExportRoundTrips(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A = apptest.OrgA
	var total int
	var first, last int64
	if err := f.Pool.QueryRow(ctx, `SELECT count(*), min(position), max(position) FROM audit_log WHERE organization_id = $1`, A).
		Scan(&total, &first, &last); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	foot, err := rm.ExportAudit(ctx, &buf, A, readmodels.AuditExportOptions{Format: "jsonl", WithNames: true, Checkpoints: fixedCheckpoints{}})
	if err != nil {
		t.Fatal(err)
	}
	lines, parsed := jsonLines(t, buf.Bytes())
	if len(lines) != total || foot.Rows != total || parsed.Rows != total || !parsed.Complete || parsed.NextCursor != "" {
		t.Fatalf("%d lines, footer %+v, want %d rows", len(lines), parsed, total)
	}
	if parsed.FirstPosition != uint64(first) || parsed.LastPosition != uint64(last) ||
		parsed.Checkpoint != "checkpoint covering "+strconv.FormatInt(last, 10) || parsed.OrganizationID != A {
		t.Fatalf("footer %+v, want positions %d..%d", parsed, first, last)
	}
	var prev float64
	var ids []string
	named, denied := 0, 0
	for _, l := range lines {
		if p := l["position"].(float64); p < prev {
			t.Fatal("entries out of log order")
		} else {
			prev = p
		}
		ids = append(ids, l["eventId"].(string))
		if l["actorId"] == apptest.AdminA {
			if l["actorName"] != "Admin Kommun A" {
				t.Fatalf("--with-names: the Admin's entry %v has no name", l)
			}
			named++
		}
		if l["actorId"] == apptest.UserA3 && l["actorName"] != nil {
			t.Fatalf("an erased user's name is exported: %v", l)
		}
		if l["action"] == "access.denied.v1" {
			if l["reasonCode"] != domain.ReasonCodeRole && l["reasonCode"] != domain.ReasonCodeOrganization &&
				l["reasonCode"] != domain.ReasonCodeNotOwner && l["reasonCode"] != domain.ReasonCodeInactive {
				t.Fatalf("a denial without a reason code: %v", l)
			}
			denied++
		}
	}
	if named == 0 || denied == 0 {
		t.Fatalf("%d named entries, %d denials: the world has both", named, denied)
	}

	// Pseudonymous by default.
	buf.Reset()
	if _, err := rm.ExportAudit(ctx, &buf, A, readmodels.AuditExportOptions{Format: "jsonl"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("Admin Kommun A")) {
		t.Fatal("a default export holds a name")
	}

	// Resumable: parts of 7 rows, each continuing after the last one's cursor, add up.
	var resumed []string
	after := ""
	for parts := 0; ; parts++ {
		if parts > total {
			t.Fatal("the export does not end")
		}
		buf.Reset()
		foot, err := rm.ExportAudit(ctx, &buf, A, readmodels.AuditExportOptions{Format: "jsonl", After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		lines, _ := jsonLines(t, buf.Bytes())
		for _, l := range lines {
			resumed = append(resumed, l["eventId"].(string))
		}
		if foot.Complete {
			break
		}
		if foot.Rows != 7 || foot.NextCursor == "" {
			t.Fatalf("an incomplete part: %+v", foot)
		}
		after = foot.NextCursor
	}
	if strings.Join(resumed, ",") != strings.Join(ids, ",") {
		t.Fatalf("resumed export has %d entries, the whole %d, or another order", len(resumed), len(ids))
	}

	// A period filter is in the footer and bounds the rows.
	from, to := time.Date(2026, 3, 3, 9, 10, 0, 0, time.UTC), time.Date(2026, 3, 3, 9, 12, 0, 0, time.UTC)
	buf.Reset()
	foot, err = rm.ExportAudit(ctx, &buf, A, readmodels.AuditExportOptions{Format: "jsonl", Filter: readmodels.AuditFilter{From: from, To: to}})
	if err != nil || foot.Rows == 0 || foot.Rows >= total || foot.Filter.From != from.Format(time.RFC3339Nano) {
		t.Fatalf("period export: %+v, %v", foot, err)
	}
	if _, err := rm.ExportAudit(ctx, io.Discard, A, readmodels.AuditExportOptions{Format: "xml"}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("an unknown format: %v", err)
	}
	if _, err := rm.ExportAudit(ctx, io.Discard, A, readmodels.AuditExportOptions{Format: "csv", After: "nope"}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("a bad cursor: %v", err)
	}
}

// TestAuditExportCSVIsInert writes hostile values into an audit row and checks that every
// cell a spreadsheet would evaluate comes out prefixed with '.
func TestAuditExportCSVIsInert(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A = apptest.OrgA
	hostile := map[string]string{"action": "=HYPERLINK(\"http://evil.example\",\"x\")", "actor_id": "+1+cmd|' /C calc'!A0",
		"target_type": "-2+3", "target_id": "@SUM(A1:A2)", "space_id": "\tTAB", "reason_code": "\rCR"}
	if _, err := f.Pool.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at, organization_id,
			space_id, actor_id, action, target_type, target_id, outcome, reason_code)
		VALUES ($1, 1 << 40, 1 << 40, now(), $2, $3, $4, $5, $6, $7, 'ok', $8)`, uuid.NewString(), A, hostile["space_id"],
		hostile["actor_id"], hostile["action"], hostile["target_type"], hostile["target_id"], hostile["reason_code"]); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	foot, err := rm.ExportAudit(ctx, &buf, A, readmodels.AuditExportOptions{Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(readmodels.CSVColumns, ",") {
		t.Fatalf("header %v", recs[0])
	}
	footRow := recs[len(recs)-1]
	var parsed readmodels.AuditExportFooter
	if footRow[0] != readmodels.CSVFooterMarker || json.Unmarshal([]byte(footRow[1]), &parsed) != nil || parsed.Rows != foot.Rows {
		t.Fatalf("footer row %v", footRow)
	}
	if rows := len(recs) - 2; rows != foot.Rows {
		t.Fatalf("%d rows, footer says %d", rows, foot.Rows)
	}
	row := recs[len(recs)-2] // the hostile row is the last by position
	col := map[string]string{}
	for i, c := range readmodels.CSVColumns {
		col[c] = row[i]
	}
	for c, v := range hostile {
		if col[c] != "'"+v {
			t.Fatalf("column %s = %q, want %q", c, col[c], "'"+v)
		}
	}
	for _, r := range recs[1 : len(recs)-1] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("a live formula cell %q", cell)
			}
		}
	}
}

func TestAuditExportOCSF(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	var buf bytes.Buffer
	foot, err := rm.ExportAudit(f.Ctx, &buf, apptest.OrgA, readmodels.AuditExportOptions{Format: "ocsf"})
	if err != nil {
		t.Fatal(err)
	}
	lines, parsed := jsonLines(t, buf.Bytes())
	if len(lines) != foot.Rows || parsed.Format != readmodels.ExportOCSF {
		t.Fatalf("%d records, footer %+v", len(lines), parsed)
	}
	classes := map[float64]bool{}
	for _, l := range lines {
		class, activity := l["class_uid"].(float64), l["activity_id"].(float64)
		classes[class] = true
		if l["type_uid"].(float64) != class*100+activity || l["category_uid"].(float64) != float64(int(class)/1000) ||
			l["time"].(float64) <= 0 || l["class_name"] == "" || l["metadata"].(map[string]any)["version"] != "1.8.0" {
			t.Fatalf("record %v", l)
		}
		action := l["unmapped"].(map[string]any)["action"]
		switch action {
		case "access.login_failed.v1":
			if class != readmodels.OCSFAuthentication || l["status_id"].(float64) != 2 {
				t.Fatalf("failed login %v", l)
			}
		case "access.denied.v1":
			if class != readmodels.OCSFAPIActivity || l["status"] != "Failure" || l["status_detail"] == nil {
				t.Fatalf("denial %v", l)
			}
		case "space.member_added.v1":
			if class != readmodels.OCSFUserAccessManagement || l["user"] == nil {
				t.Fatalf("member added %v", l)
			}
		case "document.ingested.v1":
			if class != readmodels.OCSFFileHostingActivity {
				t.Fatalf("document %v", l)
			}
		case "access.audit_log_viewed.v1":
			if class != readmodels.OCSFDatastoreActivity {
				t.Fatalf("audit read %v", l)
			}
		}
	}
	for _, c := range []float64{readmodels.OCSFAuthentication, readmodels.OCSFAPIActivity, readmodels.OCSFFileHostingActivity} {
		if !classes[c] {
			t.Fatalf("no record of class %v in %v", c, classes)
		}
	}
}

// TestOCSFMappingIsDocumented checks the README's table against the mapping.
func TestOCSFMappingIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range readmodels.OCSFMapping() {
		line := "| `" + row[0] + "` | " + row[1] + " | " + row[2]
		if !bytes.Contains(readme, []byte(line)) {
			t.Errorf("the README does not document %q", line)
		}
	}
}
