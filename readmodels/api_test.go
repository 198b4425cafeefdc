package readmodels_test

import (
	"testing"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/readmodels"
)

// TestMembershipQueries covers what the API reads for a member: a space with the caller's
// role, members with their users, organisation roles and users found by e-mail address.
// Every query is tried from organisation B too, where it finds nothing.
func TestMembershipQueries(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A, B = apptest.OrgA, apptest.OrgB

	for _, tc := range []struct {
		name          string
		org, space, u string
		want          domain.SpaceRole // SpaceRoleNone: no space
	}{
		{"space Admin", A, apptest.SpaceA, apptest.AdminA, domain.SpaceRoleAdmin},
		{"deactivated Viewer", A, apptest.SpaceA, apptest.UserA, domain.SpaceRoleViewer},
		{"erased member", A, apptest.SpaceA, apptest.UserA3, domain.SpaceRoleNone},
		{"erased space", A, apptest.SpaceA2, apptest.AdminA, domain.SpaceRoleNone},
		{"Admin of B in A's space", A, apptest.SpaceA, apptest.AdminB, domain.SpaceRoleNone},
		{"A's space read as B", B, apptest.SpaceA, apptest.AdminA, domain.SpaceRoleNone},
	} {
		s, err := rm.SpaceOfMember(ctx, tc.org, tc.space, tc.u)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == domain.SpaceRoleNone && s != nil:
			t.Errorf("%s: got %+v, want none", tc.name, s)
		case tc.want != domain.SpaceRoleNone && (s == nil || s.Role != tc.want || s.ID != tc.space || str(s.Name) != "Space 5a"):
			t.Errorf("%s: got %+v, want role %s", tc.name, s, tc.want)
		}
	}
	sp, err := rm.Spaces(ctx, A, apptest.UserA, readmodels.Page{})
	if err != nil || len(sp.Edges) != 1 || sp.Edges[0].Node.Role != domain.SpaceRoleViewer {
		t.Fatalf("Spaces of the Viewer = %+v, %v", sp, err)
	}

	ms, err := rm.Members(ctx, A, []string{apptest.SpaceA})
	if err != nil || len(ms[0]) != 2 {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	for i, want := range []struct {
		id, name string
		role     domain.SpaceRole
	}{{apptest.AdminA, "Admin Kommun A", domain.SpaceRoleAdmin}, {apptest.UserA, "User a2", domain.SpaceRoleViewer}} {
		m := ms[0][i]
		if m.UserID != want.id || m.Role != want.role || m.User == nil || m.User.ID != want.id || str(m.User.Name) != want.name {
			t.Errorf("member %d = %+v (user %+v), want %s %s", i, m, m.User, want.id, want.role)
		}
	}
	if ms, err := rm.Members(ctx, B, []string{apptest.SpaceA}); err != nil || len(ms[0]) != 0 {
		t.Errorf("A's members read as B: %+v, %v", ms, err)
	}

	for _, tc := range []struct {
		name       string
		org, u     string
		role       domain.OrgRole
		wantActive bool
	}{
		{"Admin", A, apptest.AdminA, domain.OrgRoleAdmin, true},
		{"deactivated", A, apptest.UserA, domain.OrgRoleUser, false},
		// Erasure ends a user's part in the organisation; their row stays, still active.
		{"erased", A, apptest.UserA3, "", false},
		{"A's Admin read as B", B, apptest.AdminA, "", false},
	} {
		role, active, err := rm.OrgRole(ctx, tc.org, tc.u)
		if err != nil || role != tc.role || active != tc.wantActive {
			t.Errorf("OrgRole %s = %q %v %v, want %q %v", tc.name, role, active, err, tc.role, tc.wantActive)
		}
	}

	for _, tc := range []struct {
		name, org, email, want string
	}{
		{"case-insensitive", A, "ADMIN@0a.se", apptest.AdminA},
		{"deactivated", A, "a2@a.se", ""},
		{"erased", A, "a3@a.se", ""},
		{"empty", A, "", ""},
		{"A's address from B", B, "admin@0a.se", ""},
		{"B's own", B, "admin@0b.se", apptest.AdminB},
	} {
		u, err := rm.UserByEmail(ctx, tc.org, tc.email)
		got := ""
		if u != nil {
			got = u.ID
		}
		if err != nil || got != tc.want {
			t.Errorf("UserByEmail %s = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name, org, subject, email, want string
	}{
		{"subject is an active user", A, apptest.AdminA, "", apptest.AdminA},
		{"subject deactivated, no address", A, apptest.UserA, "", ""},
		{"subject unknown, address known", A, "not-a-user-id", "ADMIN@0a.se", apptest.AdminA},
		{"A's user from B", B, apptest.AdminA, "admin@0a.se", ""},
	} {
		got, err := rm.ResolveOIDCUser(ctx, tc.org, "https://idp.example", tc.subject, tc.email)
		if tc.want == "" && !domain.Is(domain.KindNotFound, err) || tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("ResolveOIDCUser %s = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// TestTails covers the subscription reads: the latest position of a conversation's messages
// and of the audit log, and what was recorded after a position, oldest first.
func TestTails(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A, B = apptest.OrgA, apptest.OrgB

	page, err := rm.Messages(ctx, A, apptest.ConvA, readmodels.Page{})
	if err != nil || len(page.Edges) != 2 {
		t.Fatalf("Messages = %+v, %v", page, err)
	}
	first, second := page.Edges[0].Node, page.Edges[1].Node
	last, err := rm.LastMessagePosition(ctx, A, apptest.ConvA)
	if err != nil || last != second.Position {
		t.Fatalf("LastMessagePosition = %d, %v; want %d", last, err, second.Position)
	}
	all, err := rm.MessagesAfter(ctx, A, apptest.ConvA, 0, 100)
	if err != nil || len(all) != 2 || all[0].ID != first.ID || str(all[1].Text) != "Hej!" || all[1].InReplyTo != first.ID {
		t.Fatalf("MessagesAfter(0) = %+v, %v", all, err)
	}
	if tail, err := rm.MessagesAfter(ctx, A, apptest.ConvA, first.Position, 100); err != nil || len(tail) != 1 || tail[0].ID != second.ID {
		t.Errorf("MessagesAfter(first) = %+v, %v", tail, err)
	}
	if tail, err := rm.MessagesAfter(ctx, A, apptest.ConvA, last, 100); err != nil || len(tail) != 0 {
		t.Errorf("MessagesAfter(last) = %+v, %v", tail, err)
	}
	if one, err := rm.MessagesAfter(ctx, A, apptest.ConvA, 0, 1); err != nil || len(one) != 1 || one[0].ID != first.ID {
		t.Errorf("MessagesAfter limit 1 = %+v, %v", one, err)
	}
	if _, err := rm.MessagesAfter(ctx, A, apptest.ConvA, 0, 0); !domain.Is(domain.KindInvalid, err) {
		t.Errorf("MessagesAfter limit 0: %v", err)
	}
	if ms, err := rm.MessagesAfter(ctx, B, apptest.ConvA, 0, 100); err != nil || len(ms) != 0 {
		t.Errorf("A's messages read as B: %+v, %v", ms, err)
	}
	if p, err := rm.LastMessagePosition(ctx, B, apptest.ConvA); err != nil || p != 0 {
		t.Errorf("A's last message position read as B: %d, %v", p, err)
	}

	newest, err := rm.AuditLog(ctx, A, readmodels.AuditFilter{}, readmodels.Page{First: 100})
	if err != nil || len(newest.Edges) == 0 || newest.PageInfo.HasNextPage {
		t.Fatalf("AuditLog = %d entries (more: %v), %v", len(newest.Edges), newest.PageInfo.HasNextPage, err)
	}
	lastA, err := rm.LastAuditPosition(ctx, A)
	if err != nil || lastA != newest.Edges[0].Node.Position {
		t.Fatalf("LastAuditPosition = %d, %v; want %d", lastA, err, newest.Edges[0].Node.Position)
	}
	oldest, err := rm.AuditAfter(ctx, A, 0, 100)
	if err != nil || len(oldest) != len(newest.Edges) {
		t.Fatalf("AuditAfter(0) = %d entries, %v; want %d", len(oldest), err, len(newest.Edges))
	}
	for i, e := range oldest {
		if want := newest.Edges[len(oldest)-1-i].Node; e.EventID != want.EventID || e.OrganizationID != A {
			t.Fatalf("AuditAfter entry %d = %+v, want %+v (oldest first, A's only)", i, e, want)
		}
	}
	mid := oldest[len(oldest)/2].Position
	tail, err := rm.AuditAfter(ctx, A, mid, 100)
	if err != nil || len(tail) == 0 || tail[0].Position <= mid || tail[len(tail)-1].Position != lastA {
		t.Errorf("AuditAfter(mid) = %+v, %v", tail, err)
	}
	if rest, err := rm.AuditAfter(ctx, A, lastA, 100); err != nil || len(rest) != 0 {
		t.Errorf("AuditAfter(last) = %+v, %v", rest, err)
	}
	if _, err := rm.AuditAfter(ctx, A, 0, readmodels.MaxFirst+1); !domain.Is(domain.KindInvalid, err) {
		t.Errorf("AuditAfter over the limit: %v", err)
	}
	ofB, err := rm.AuditAfter(ctx, B, 0, 100)
	if err != nil || len(ofB) == 0 {
		t.Fatalf("B's audit tail: %d, %v", len(ofB), err)
	}
	for _, e := range ofB {
		if e.OrganizationID != B {
			t.Errorf("B's audit tail holds %+v", e)
		}
	}
	if lastB, err := rm.LastAuditPosition(ctx, B); err != nil || lastB != ofB[len(ofB)-1].Position {
		t.Errorf("LastAuditPosition(B) = %d, %v", lastB, err)
	}
}
