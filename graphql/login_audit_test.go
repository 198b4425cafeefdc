package graphql_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/arkiv/arkiv/domain"
)

// testLoginAudit: failed and successful local logins through the API land in the
// organisation's audit log for its Admins, with digests only — no login name, no address.
func testLoginAudit(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	const login, password = "kim.larsson", "correct horse battery"
	s.ok(t, ukey, `mutation($in: SetPasswordInput!) { setPassword(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"login": login, "password": password}})
	const mLogin = `mutation($in: LoginInput!) { login(input: $in) { id token } }`
	if r := s.do(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": "wrong password!"}}); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("login with a wrong password: %+v", r.Errors)
	}
	if r := s.ok(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": password}}); r["login"].(map[string]any)["id"] != uid {
		t.Fatalf("login = %v", r)
	}

	count := func(action string) int {
		r := s.ok(t, o.adminKey, `query($f: AuditFilter) { auditLog(filter: $f, justification: "Reviewing failed logins for the security report.") { edges { node { action targetId } } } }`,
			map[string]any{"f": map[string]any{"action": action}})
		return len(r["auditLog"].(map[string]any)["edges"].([]any))
	}
	s.waitFor(t, func() bool { return count("access.login_failed.v1") == 1 && count("access.login_succeeded.v1") == 1 })
	failed := s.ok(t, o.adminKey, `query { auditLog(filter: {outcome: FAILED}, justification: "Reviewing failed logins for the security report.") { edges { node { action outcome } } } }`, nil)
	if es := failed["auditLog"].(map[string]any)["edges"].([]any); len(es) != 1 ||
		es[0].(map[string]any)["node"].(map[string]any)["action"] != "access.login_failed.v1" || es[0].(map[string]any)["node"].(map[string]any)["outcome"] != "FAILED" {
		t.Fatalf("failed entries = %v", es)
	}
	ok := s.ok(t, o.adminKey, `query { auditLog(filter: {action: "access.login_succeeded.v1"}, justification: "Reviewing failed logins for the security report.") { edges { node { outcome } } } }`, nil)
	if es := ok["auditLog"].(map[string]any)["edges"].([]any); len(es) != 1 || es[0].(map[string]any)["node"].(map[string]any)["outcome"] != "OK" {
		t.Fatalf("successful login entries = %v", es)
	}
	if r := s.do(t, ukey, `query { auditLog(justification: "I would like to see the failed logins.") { edges { node { action } } } }`, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("auditLog as a User: %+v", r.Errors)
	}

	recs, _, err := s.p.Store.Load(context.Background(), domain.AccessStream(o.id))
	if err != nil {
		t.Fatal(err)
	}
	var logins int
	for _, r := range recs {
		if r.Type != "access.login_failed.v1" && r.Type != "access.login_succeeded.v1" {
			continue
		}
		logins++
		if bytes.Contains(r.Data, []byte(login)) || bytes.Contains(r.Data, []byte("127.0.0.1")) || !bytes.Contains(r.Data, []byte(`"loginDigest"`)) ||
			!bytes.Contains(r.Data, []byte(`"remoteIpDigest"`)) {
			t.Fatalf("%s stores more than digests: %s", r.Type, r.Data)
		}
	}
	if logins != 2 {
		t.Fatalf("%d login events in the access log, want 2", logins)
	}
}
