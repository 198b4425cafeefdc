package graphql_test

import (
	"testing"
	"time"
)

// As-of answers over GraphQL: the past as the events tell it, recorded in the audit log;
// reading the audit log needs a reason or an open audit session.
func TestAsOfQueriesAndAuditSessions(t *testing.T) {
	s := startStack(t, stackOptions{})
	before := s.clock.Now().Add(-time.Hour)
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	space := s.space(t, o.adminKey)
	s.addMember(t, o.adminKey, space, uid, "VIEWER")
	s.clock.Advance(48 * time.Hour)
	member := s.clock.Now().Add(-time.Hour)
	s.mutate(t, o.adminKey, `mutation($in: RemoveSpaceMemberInput!) { removeSpaceMember(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "userId": uid}})

	const qWho = `query($s: ID!, $at: Time) { whoCanAccess(spaceId: $s, asOf: $at) { userId role } }`
	who := func(at any) []any {
		return s.ok(t, o.adminKey, qWho, map[string]any{"s": space, "at": at})["whoCanAccess"].([]any)
	}
	if got := who(member.Format(time.RFC3339Nano)); len(got) != 2 {
		t.Fatalf("whoCanAccess while the user was a member: %v", got)
	}
	if got := who(nil); len(got) != 1 || got[0].(map[string]any)["role"] != "ADMIN" {
		t.Fatalf("whoCanAccess now: %v", got)
	}
	if got := who(s.clock.Now().Format(time.RFC3339Nano)); len(got) != 1 {
		t.Fatalf("whoCanAccess as of now: %v", got)
	}
	of := s.ok(t, o.adminKey, `query($u: ID!, $at: Time) { accessOf(userId: $u, asOf: $at) { spaceId role } }`,
		map[string]any{"u": uid, "at": member.Format(time.RFC3339Nano)})["accessOf"].([]any)
	if len(of) != 1 || of[0].(map[string]any)["spaceId"] != space || of[0].(map[string]any)["role"] != "VIEWER" {
		t.Fatalf("accessOf while a member: %v", of)
	}
	sp := s.ok(t, o.adminKey, `query($s: ID!, $at: Time) { space(id: $s, asOf: $at) { id name classification members { id role user { id } } } }`,
		map[string]any{"s": space, "at": member.Format(time.RFC3339Nano)})["space"].(map[string]any)
	if sp["classification"] != "INTERNAL" || sp["name"] != nil || len(sp["members"].([]any)) != 2 {
		t.Fatalf("space as of then: %v", sp)
	}
	const qSettings = `query($at: Time) { organizationSettings(asOf: $at) { exists settings { mfaRequired models { id region } } identityProviders { issuer } } }`
	if got := s.ok(t, o.adminKey, qSettings, map[string]any{"at": before.Format(time.RFC3339Nano)})["organizationSettings"].(map[string]any); got["exists"] != false {
		t.Fatalf("settings before the organisation existed: %v", got)
	}
	got := s.ok(t, o.adminKey, qSettings, nil)["organizationSettings"].(map[string]any)
	if st := got["settings"].(map[string]any); got["exists"] != true || st["mfaRequired"] != false || len(st["models"].([]any)) != 1 {
		t.Fatalf("settings now: %v", got)
	}
	if r := s.do(t, ukey, qWho, map[string]any{"s": space, "at": member.Format(time.RFC3339Nano)}); r.code() != "FORBIDDEN" {
		t.Fatalf("a user's as-of read: %+v", r)
	}

	// The audit log: refused without a reason or a session; a reason opens one; within it,
	// no reason is needed. The as-of reads are in it.
	const qAudit = `query($j: String) { auditLog(filter: {action: "access.history_viewed.v1"}, justification: $j) { edges { node { action actorId } } } }`
	if r := s.do(t, o.adminKey, qAudit, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("audit log without a reason or session: %+v", r)
	}
	// Six as-of reads were recorded (the refused one is a denial); the audit projection catches up.
	var edges []any
	for deadline := time.Now().Add(20 * time.Second); len(edges) < 6 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		edges = s.ok(t, o.adminKey, qAudit, map[string]any{"j": "Checking that as-of reads are audited."})["auditLog"].(map[string]any)["edges"].([]any)
	}
	if len(edges) != 6 {
		t.Fatalf("%d as-of reads in the audit log, want 6", len(edges))
	}
	if r := s.do(t, o.adminKey, qAudit, nil); len(r.Errors) != 0 {
		t.Fatalf("audit log within the session: %+v", r.Errors)
	}
	s.clock.Advance(61 * time.Minute)
	if r := s.do(t, o.adminKey, qAudit, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("audit log after the session expired: %+v", r)
	}
}
