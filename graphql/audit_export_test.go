package graphql_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// testAuditTrail: a role change shows the affected user and the roles before and after in
// the audit log, an accessOf read is itself audited, and exportAuditLog returns the entries
// inline with a footer that counts them (JSONL and CSV), for Admins only.
func testAuditTrail(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	s.ok(t, o.adminKey, `mutation($in: GrantOrgRoleInput!) { grantOrgRole(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"userId": uid, "role": "CREATOR"}})
	s.ok(t, o.adminKey, `query($u: ID!) { accessOf(userId: $u) { spaceId } }`, map[string]any{"u": uid})
	const why = "Quarterly review of role changes."
	entry := func(action string) map[string]any {
		r := s.ok(t, o.adminKey, `query($f: AuditFilter) { auditLog(filter: $f, justification: "`+why+`") {
			edges { node { action subject reasonCode detailShredded detail { name value } } } } }`,
			map[string]any{"f": map[string]any{"action": action}})
		es := r["auditLog"].(map[string]any)["edges"].([]any)
		if len(es) == 0 {
			return nil
		}
		return es[0].(map[string]any)["node"].(map[string]any)
	}
	s.waitFor(t, func() bool { return entry("user.role_changed.v1") != nil && entry("access.access_queried.v1") != nil })
	rc := entry("user.role_changed.v1")
	detail := map[string]string{}
	for _, f := range rc["detail"].([]any) {
		detail[f.(map[string]any)["name"].(string)] = f.(map[string]any)["value"].(string)
	}
	if rc["subject"] != "user:"+uid || detail["roleBefore"] != "USER" || detail["roleAfter"] != "CREATOR" || rc["detailShredded"] != false {
		t.Fatalf("role change entry %v", rc)
	}

	const export = `mutation($f: AuditExportFormat!) { exportAuditLog(format: $f, justification: "` + why + `") {
		format content rows firstPosition lastPosition complete nextCursor footer } }`
	x := s.ok(t, o.adminKey, export, map[string]any{"f": "JSONL"})["exportAuditLog"].(map[string]any)
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(x["content"].(string)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	rows := int(x["rows"].(float64))
	var foot struct {
		Footer struct {
			Rows     int  `json:"rows"`
			Complete bool `json:"complete"`
		} `json:"footer"`
	}
	if rows < 3 || len(lines) != rows+1 || json.Unmarshal([]byte(lines[rows]), &foot) != nil || foot.Footer.Rows != rows ||
		!foot.Footer.Complete || x["complete"] != true || x["nextCursor"] != nil || !strings.Contains(x["content"].(string), "user.role_changed.v1") {
		t.Fatalf("JSONL export: %v", x)
	}
	c := s.ok(t, o.adminKey, export, map[string]any{"f": "CSV"})["exportAuditLog"].(map[string]any)
	recs, err := csv.NewReader(strings.NewReader(c["content"].(string))).ReadAll()
	if err != nil || len(recs) < rows+2 || recs[len(recs)-1][0] != "#footer" {
		t.Fatalf("CSV export: %v, %v", c["content"], err)
	}
	if r := s.do(t, ukey, export, map[string]any{"f": "OCSF"}); r.code() != "FORBIDDEN" {
		t.Fatalf("exportAuditLog as a Creator: %+v", r.Errors)
	}
	s.waitFor(t, func() bool { return entry("access.audit_log_exported.v1") != nil })
}
