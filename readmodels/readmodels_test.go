package readmodels_test

import (
	"github.com/arkiv/arkiv/infra/auth"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/readmodels"
)

// world projects the scripted world (plaintext codec) and returns a Reader over it.
func world(t *testing.T) (*apptest.Fixture, *readmodels.Reader) {
	t.Helper()
	f := apptest.NewFixture(t)
	codec := keyring.NewPlainCodec()
	apptest.NewScript(f, codec).World()
	ps, err := projections.All(projections.Deps{Streams: f.ES.Store, Auth: auth.Tables{}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Runner(ps)
	f.Run(r)
	f.WaitHead(r.Names()...)
	return f, readmodels.New(f.Pool, codec)
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestQueries(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A, B = apptest.OrgA, apptest.OrgB

	o, err := rm.Organization(ctx, A)
	if err != nil || o == nil || str(o.Name) != "Kommun A" || len(o.Settings.Models) != 1 {
		t.Fatalf("Organization = %+v, %v", o, err)
	}
	us, err := rm.Users(ctx, A, []string{apptest.AdminA, apptest.UserA3, "nobody"})
	if err != nil || us[0] == nil || str(us[0].Name) != "Admin Kommun A" || us[2] != nil {
		t.Fatalf("Users = %v, %v", us, err)
	}
	if u := us[1]; u == nil || !u.Erased || u.Email != nil || u.Name != nil || u.Role != domain.OrgRoleCreator {
		t.Fatalf("erased user = %+v", u)
	}
	if role, active, err := rm.OrgRole(ctx, A, apptest.UserA); err != nil || role != domain.OrgRoleUser || active {
		t.Fatalf("OrgRole of the deactivated user = %s %v %v", role, active, err)
	}

	sp, err := rm.Spaces(ctx, A, apptest.AdminA, readmodels.Page{First: 10})
	if err != nil || len(sp.Edges) != 1 || sp.Edges[0].Node.ID != apptest.SpaceA || str(sp.Edges[0].Node.Name) != "Space 5a" ||
		sp.PageInfo.HasNextPage || len(sp.Edges[0].Node.Models) != 1 {
		t.Fatalf("Spaces = %+v, %v (the erased space must be gone)", sp, err)
	}
	if role, err := rm.SpaceRole(ctx, A, apptest.SpaceA, apptest.AdminA); err != nil || role != domain.SpaceRoleAdmin {
		t.Fatalf("SpaceRole = %q, %v", role, err)
	}
	acc, err := rm.AccessToSpace(ctx, A, apptest.SpaceA)
	if err != nil || len(acc) != 1 || acc[0].UserID != apptest.AdminA {
		t.Fatalf("AccessToSpace = %+v, %v (deactivated and erased users have no access)", acc, err)
	}
	acc, err = rm.AccessOfUser(ctx, A, apptest.AdminA)
	if err != nil || len(acc) != 1 || acc[0].SpaceID != apptest.SpaceA || acc[0].Role != domain.SpaceRoleAdmin {
		t.Fatalf("AccessOfUser = %+v, %v", acc, err)
	}
	ms, err := rm.Members(ctx, A, []string{apptest.SpaceA, apptest.SpaceA2})
	if err != nil || len(ms[0]) != 2 || len(ms[1]) != 0 {
		t.Fatalf("Members = %+v, %v", ms, err)
	}

	as, err := rm.Assistants(ctx, A, apptest.SpaceA, readmodels.Page{})
	if err != nil || len(as.Edges) != 1 || str(as.Edges[0].Node.Name) != "Helper 2" || str(as.Edges[0].Node.Instructions) != "Be briefer." {
		t.Fatalf("Assistants = %+v, %v", as, err)
	}
	ds, err := rm.Documents(ctx, A, apptest.SpaceA, readmodels.Page{})
	if err != nil || len(ds.Edges) != 1 || str(ds.Edges[0].Node.Title) != "Doc d1" {
		t.Fatalf("Documents = %+v, %v", ds, err)
	}
	text, err := rm.DocumentContent(ctx, A, apptest.DocA)
	if err != nil || str(text) != "Första delen. Första delen. " {
		t.Fatalf("DocumentContent = %q, %v", str(text), err)
	}
	c, err := rm.Conversation(ctx, A, apptest.ConvA)
	if err != nil || c == nil || c.StartedBy != apptest.UserA {
		t.Fatalf("Conversation = %+v, %v", c, err)
	}
	msgs, err := rm.Messages(ctx, A, apptest.ConvA, readmodels.Page{First: 1})
	if err != nil || len(msgs.Edges) != 1 || str(msgs.Edges[0].Node.Text) != "Hej?" || !msgs.PageInfo.HasNextPage {
		t.Fatalf("Messages page 1 = %+v, %v", msgs, err)
	}
	msgs, err = rm.Messages(ctx, A, apptest.ConvA, readmodels.Page{First: 1, After: msgs.PageInfo.EndCursor})
	if err != nil || len(msgs.Edges) != 1 || msgs.PageInfo.HasNextPage {
		t.Fatalf("Messages page 2 = %+v, %v", msgs, err)
	}
	if m := msgs.Edges[0].Node; str(m.Text) != "Hej!" || m.Role != readmodels.MessageRoleAssistant ||
		m.AuthorID != apptest.AssistA || m.InReplyTo != apptest.MsgA1 || len(m.Excerpts) != 1 {
		t.Fatalf("reply = %+v", m)
	}
	keys, err := rm.APIKeys(ctx, A, "", readmodels.Page{First: 1})
	if err != nil || len(keys.Edges) != 1 || !keys.PageInfo.HasNextPage || keys.Edges[0].Node.State != "REVOKED" {
		t.Fatalf("APIKeys = %+v, %v", keys, err)
	}
	keys, err = rm.APIKeys(ctx, A, "", readmodels.Page{First: 1, After: keys.PageInfo.EndCursor})
	if err != nil || len(keys.Edges) != 1 || keys.PageInfo.HasNextPage || keys.Edges[0].Node.LastUsedAt == nil {
		t.Fatalf("APIKeys page 2 = %+v, %v", keys, err)
	}
	// An active Admin lists every key of the organisation; anyone else only their own, and
	// an Admin of another organisation none.
	if keys, err := rm.APIKeysVisibleTo(ctx, A, apptest.AdminA, readmodels.Page{}); err != nil || len(keys.Edges) != 2 {
		t.Fatalf("APIKeysVisibleTo(Admin) = %+v, %v", keys, err)
	}
	if keys, err := rm.APIKeysVisibleTo(ctx, A, apptest.UserA, readmodels.Page{}); err != nil || len(keys.Edges) != 1 ||
		keys.Edges[0].Node.ID != apptest.KeyA {
		t.Fatalf("APIKeysVisibleTo(user) = %+v, %v", keys, err)
	}
	if keys, err := rm.APIKeysVisibleTo(ctx, A, apptest.AdminB, readmodels.Page{}); err != nil || len(keys.Edges) != 0 {
		t.Fatalf("APIKeysVisibleTo(other organisation's Admin) = %+v, %v", keys, err)
	}
	den, err := rm.AccessDenials(ctx, A, readmodels.Page{})
	if err != nil || len(den.Edges) != 1 || den.Edges[0].Node.Command != domain.CmdDeleteSpace || den.Edges[0].Node.TargetID != apptest.SpaceA {
		t.Fatalf("AccessDenials = %+v, %v", den, err)
	}
}

func TestAuditLogFiltersAndPages(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const A = apptest.OrgA
	seen := map[string]bool{}
	var last uint64 = 1 << 63
	p := readmodels.Page{First: 7}
	for {
		c, err := rm.AuditLog(ctx, A, readmodels.AuditFilter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range c.Edges {
			if seen[e.Node.EventID] || e.Node.Position >= last || e.Node.OrganizationID != A {
				t.Fatalf("entry %+v repeated, out of order or of another organisation", e.Node)
			}
			seen[e.Node.EventID], last = true, e.Node.Position
		}
		if !c.PageInfo.HasNextPage {
			break
		}
		p.After = c.PageInfo.EndCursor
	}
	var total int
	if err := f.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE organization_id = $1`, A).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if len(seen) != total || total < 30 {
		t.Fatalf("paged through %d of %d entries", len(seen), total)
	}
	for _, tc := range []struct {
		name string
		f    readmodels.AuditFilter
		want func(readmodels.AuditEntry) bool
	}{
		{"action", readmodels.AuditFilter{Action: "access.denied.v1"}, func(e readmodels.AuditEntry) bool {
			return e.Outcome == "denied" && e.TargetType == "space" && e.TargetID == apptest.SpaceA
		}},
		{"actor", readmodels.AuditFilter{ActorID: apptest.UserA}, func(e readmodels.AuditEntry) bool { return e.ActorID == apptest.UserA }},
		{"target", readmodels.AuditFilter{TargetID: apptest.DocA}, func(e readmodels.AuditEntry) bool { return e.TargetID == apptest.DocA }},
		{"space", readmodels.AuditFilter{SpaceID: apptest.SpaceA2}, func(e readmodels.AuditEntry) bool { return e.SpaceID == apptest.SpaceA2 }},
		{"failed", readmodels.AuditFilter{Outcome: readmodels.AuditFailed}, func(e readmodels.AuditEntry) bool {
			return e.Outcome == readmodels.AuditFailed && e.Action == "access.login_failed.v1"
		}},
		{"denied", readmodels.AuditFilter{Outcome: readmodels.AuditDenied}, func(e readmodels.AuditEntry) bool {
			return e.Outcome == readmodels.AuditDenied && e.Action == "access.denied.v1"
		}},
		{"period", readmodels.AuditFilter{From: time.Date(2026, 3, 3, 9, 10, 0, 0, time.UTC), To: time.Date(2026, 3, 3, 9, 12, 0, 0, time.UTC)},
			func(e readmodels.AuditEntry) bool { return e.OccurredAt.Minute() == 10 || e.OccurredAt.Minute() == 11 }},
	} {
		c, err := rm.AuditLog(ctx, A, tc.f, readmodels.Page{First: 100})
		if err != nil || len(c.Edges) == 0 {
			t.Fatalf("%s: %d entries, %v", tc.name, len(c.Edges), err)
		}
		for _, e := range c.Edges {
			if !tc.want(e.Node) {
				t.Fatalf("%s: entry %+v does not match", tc.name, e.Node)
			}
		}
	}
	if _, err := rm.AuditLog(ctx, A, readmodels.AuditFilter{}, readmodels.Page{After: "not-a-cursor"}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("a bad cursor: %v", err)
	}
	if _, err := rm.AuditLog(ctx, A, readmodels.AuditFilter{Outcome: "maybe"}, readmodels.Page{}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("an unknown outcome: %v", err)
	}
}

// TestIdentityProviders: both organisations of the scripted world configured the same pair,
// A first: A's is active with its latest MFA claims, B's is listed inactive, and the pair A
// removed is gone.
func TestIdentityProviders(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	a, err := rm.IdentityProviders(f.Ctx, apptest.OrgA)
	if err != nil || len(a) != 1 {
		t.Fatalf("A's providers = %+v, %v", a, err)
	}
	if p := a[0]; p.Issuer != apptest.IdPIssuer || p.Audience != apptest.IdPAudience || !p.Active ||
		len(p.AllowedAMR) != 2 || len(p.AcceptedACR) != 1 {
		t.Fatalf("A's provider = %+v", p)
	}
	b, err := rm.IdentityProviders(f.Ctx, apptest.OrgB)
	if err != nil || len(b) != 1 || b[0].Active || b[0].Issuer != apptest.IdPIssuer {
		t.Fatalf("B's providers = %+v, %v", b, err)
	}
	none, err := rm.IdentityProviders(f.Ctx, "00000000-0000-4000-8000-00000000000f")
	if err != nil || len(none) != 0 {
		t.Fatalf("an unknown organisation's providers = %+v, %v", none, err)
	}
}

// TestOtherOrganizationSeesNothing reads organisation A's objects as organisation B.
func TestOtherOrganizationSeesNothing(t *testing.T) {
	t.Parallel()
	f, rm := world(t)
	ctx := f.Ctx
	const B = apptest.OrgB
	check := func(what string, empty bool, err error) {
		t.Helper()
		if err != nil || !empty {
			t.Errorf("%s of organisation A read as B: empty=%v err=%v", what, empty, err)
		}
	}
	us, err := rm.Users(ctx, B, []string{apptest.AdminA, apptest.UserA})
	check("users", us[0] == nil && us[1] == nil, err)
	sp, err := rm.Space(ctx, B, apptest.SpaceA)
	check("space", sp == nil, err)
	sps, err := rm.Spaces(ctx, B, apptest.AdminA, readmodels.Page{})
	check("spaces", len(sps.Edges) == 0, err)
	role, err := rm.SpaceRole(ctx, B, apptest.SpaceA, apptest.AdminA)
	check("space role", role == domain.SpaceRoleNone, err)
	ms, err := rm.Members(ctx, B, []string{apptest.SpaceA})
	check("members", len(ms[0]) == 0, err)
	acc, err := rm.AccessToSpace(ctx, B, apptest.SpaceA)
	check("access to space", len(acc) == 0, err)
	acc, err = rm.AccessOfUser(ctx, B, apptest.AdminA)
	check("access of user", len(acc) == 0, err)
	as, err := rm.Assistants(ctx, B, apptest.SpaceA, readmodels.Page{})
	check("assistants", len(as.Edges) == 0, err)
	a, err := rm.Assistant(ctx, B, apptest.AssistA)
	check("assistant", a == nil, err)
	ds, err := rm.Documents(ctx, B, apptest.SpaceA, readmodels.Page{})
	check("documents", len(ds.Edges) == 0, err)
	d, err := rm.Document(ctx, B, apptest.DocA)
	check("document", d == nil, err)
	text, err := rm.DocumentContent(ctx, B, apptest.DocA)
	check("document content", text == nil, err)
	c, err := rm.Conversation(ctx, B, apptest.ConvA)
	check("conversation", c == nil, err)
	msgs, err := rm.Messages(ctx, B, apptest.ConvA, readmodels.Page{})
	check("messages", len(msgs.Edges) == 0, err)
	keys, err := rm.APIKeys(ctx, B, apptest.AdminA, readmodels.Page{})
	check("API keys", len(keys.Edges) == 0, err)
	den, err := rm.AccessDenials(ctx, B, readmodels.Page{})
	check("access denials", len(den.Edges) == 0, err)
	audit, err := rm.AuditLog(ctx, B, readmodels.AuditFilter{SpaceID: apptest.SpaceA}, readmodels.Page{})
	check("audit log", len(audit.Edges) == 0, err)
	all, err := rm.AuditLog(ctx, B, readmodels.AuditFilter{}, readmodels.Page{First: 100})
	if err != nil || len(all.Edges) == 0 {
		t.Fatalf("organisation B's own audit log: %d, %v", len(all.Edges), err)
	}
	for _, e := range all.Edges {
		if e.Node.OrganizationID != B {
			t.Errorf("B's audit log holds %+v", e.Node)
		}
	}
}
