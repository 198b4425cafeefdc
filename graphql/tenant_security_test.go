package graphql_test

import (
	"testing"
	"time"
)

// TestTenantSecurity runs the attacks of issue 13 items 2, 3 and 6 against one platform:
// identity-provider squatting, the operator's model key sent where an Admin points, and a
// Space Admin locking the organisation's Admin out of a space.
func TestTenantSecurity(t *testing.T) {
	s := startStack(t, stackOptions{})
	t.Run("org Admins keep oversight of every space", func(t *testing.T) { testOrgAdminOversight(t, s) })
}

const (
	mChangeSpaceRole   = `mutation($in: ChangeSpaceRoleInput!) { changeSpaceRole(input: $in) { id position } }`
	mRemoveSpaceMember = `mutation($in: RemoveSpaceMemberInput!) { removeSpaceMember(input: $in) { id position } }`
)

// testOrgAdminOversight: a Space Admin who is an organisation User cannot demote or remove
// the organisation's Admin from a space (refused and audited); the organisation's Admin
// manages membership of any space of the organisation, member or not, themselves included.
func testOrgAdminOversight(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	_, ckey := s.user(t, o, "CREATOR")
	uid, ukey := s.user(t, o, "USER")
	sp := s.space(t, ckey) // the org Admin is not a member
	// The Admin, not a member, adds a Space Admin and themselves.
	s.addMember(t, o.adminKey, sp, uid, "ADMIN")
	s.addMember(t, o.adminKey, sp, o.adminID, "VIEWER")
	// The Space Admin who is an organisation User cannot touch the org Admin's access.
	for _, c := range []struct{ q, what string }{
		{mChangeSpaceRole, "demote"}, {mRemoveSpaceMember, "remove"},
	} {
		in := map[string]any{"spaceId": sp, "userId": o.adminID}
		if c.q == mChangeSpaceRole {
			in["role"] = "EDITOR"
		}
		if r := s.do(t, ukey, c.q, map[string]any{"in": in}); r.code() != "FORBIDDEN" {
			t.Fatalf("a Space Admin could %s the org Admin: %+v", c.what, r)
		}
	}
	// The org Admin makes themselves a Space Admin (as a Viewer) and stays one.
	s.mutate(t, o.adminKey, mChangeSpaceRole, map[string]any{"in": map[string]any{"spaceId": sp, "userId": o.adminID, "role": "ADMIN"}})
	if r := s.do(t, ukey, mChangeSpaceRole, map[string]any{"in": map[string]any{"spaceId": sp, "userId": o.adminID, "role": "VIEWER"}}); r.code() != "FORBIDDEN" {
		t.Fatalf("a Space Admin demoted the org Admin: %+v", r)
	}
	got := s.ok(t, o.adminKey, `query($id: ID!) { space(id: $id) { members { id role } } }`, map[string]any{"id": sp})
	role := ""
	for _, m := range got["space"].(map[string]any)["members"].([]any) {
		if m := m.(map[string]any); m["id"] == o.adminID {
			role = m["role"].(string)
		}
	}
	if role != "ADMIN" {
		t.Fatalf("the org Admin's role in the space is %q", role)
	}
	// Space Admins still manage each other: the org Admin removes the User, then re-adds them.
	s.mutate(t, o.adminKey, mRemoveSpaceMember, map[string]any{"in": map[string]any{"spaceId": sp, "userId": uid}})
	s.addMember(t, o.adminKey, sp, uid, "VIEWER")
	// The refusals are in the audit log (projected asynchronously: poll).
	n := 0
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		audit := s.ok(t, o.adminKey, `query($f: AuditFilter) { auditLog(filter: $f, justification: "Reviewing refused membership changes.") { edges { node { action actorId outcome } } } }`,
			map[string]any{"f": map[string]any{"actorId": uid, "outcome": "DENIED"}})
		if n = len(audit["auditLog"].(map[string]any)["edges"].([]any)); n >= 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("audited denials of the Space Admin: %d, want 3", n)
	}
}
