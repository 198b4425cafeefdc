package projections_test

import (
	"fmt"
	"github.com/arkiv/arkiv/infra/auth"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
)

// TestIdentityProviderRouting: two organisations configure the same (issuer, audience) pair;
// tokens route to the first, the second's claim waits and takes over when the first removes
// the pair; re-configuring makes the first wait behind the second; erasing the second hands
// the pair back, restoring it returns it to the second (whose claim is older); a rebuild
// reaches the same tables. At no point does the pair route to two organisations.
func TestIdentityProviderRouting(t *testing.T) {
	t.Parallel()
	f := apptest.NewFixture(t)
	s := apptest.NewScript(f, keyring.NewPlainCodec())
	const (
		a, b    = apptest.OrgA, apptest.OrgB
		adminA  = apptest.AdminA
		adminB  = apptest.AdminB
		issuer  = "https://idp.example.se/shared"
		aud     = "api://shared"
		erasure = "00000000-0000-4000-8000-000000000299"
	)
	for _, o := range []struct{ id, admin string }{{a, adminA}, {b, adminB}} {
		s.Emit("org-"+o.id, o.admin, o.id, "", domain.OrganizationCreated{OrganizationID: o.id,
			Name: domain.Seal("Org", domain.OrganizationSubject(o.id)), Settings: domain.DefaultOrganizationSettings()})
	}
	ps := []engine.Projection{projections.NewAuth(f.ES.Store, auth.Tables{})}
	r := f.Runner(ps)
	f.Run(r)
	routed := func(step string, want string) {
		t.Helper()
		f.WaitHead(projections.NameAuth)
		var orgs []string
		rows, err := f.Pool.Query(f.Ctx, `SELECT organization_id FROM auth_oidc_providers WHERE issuer = $1 AND audience = $2`, issuer, aud)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var o string
			if err := rows.Scan(&o); err != nil {
				t.Fatal(err)
			}
			orgs = append(orgs, o)
		}
		if want == "" && len(orgs) != 0 || want != "" && (len(orgs) != 1 || orgs[0] != want) {
			t.Fatalf("%s: the pair routes to %v, want %q", step, orgs, want)
		}
	}
	configure := func(org, admin string) {
		s.Emit("org-"+org, admin, org, "", domain.IdentityProviderConfigured{OrganizationID: org, Issuer: issuer, Audience: aud,
			AllowedAMR: []string{}, AcceptedACR: []string{}})
	}
	configure(a, adminA)
	routed("A configured", a)
	configure(b, adminB)
	routed("B configured the same pair later", a)
	s.Emit("org-"+a, adminA, a, "", domain.IdentityProviderRemoved{OrganizationID: a, Issuer: issuer, Audience: aud})
	routed("A removed it", b)
	configure(a, adminA)
	routed("A configured it again", b)
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	s.Emit("erasure-"+erasure, adminB, b, "", domain.ErasureRequested{ErasureID: erasure, OrganizationID: b,
		SubjectType: domain.SubjectOrganization, SubjectID: b, GraceDays: 14, RequestedBy: adminB, RequestedAt: t0, EffectiveAt: t0})
	routed("B erased", a)
	s.Emit("erasure-"+erasure, adminB, b, "", domain.ErasureRestored{ErasureID: erasure, RestoredBy: adminB, RestoredAt: t0})
	routed("B restored", b)

	live := apptest.Dump(t, f.Ctx, f.Pool, ps[0].Tables())
	if err := r.RebuildAll(f.Ctx, nil); err != nil {
		t.Fatal(err)
	}
	if rebuilt := apptest.Dump(t, f.Ctx, f.Pool, ps[0].Tables()); rebuilt != live {
		t.Errorf("a rebuild changed the tables:\n%s", diffLines(live, rebuilt))
	}
	routed("after the rebuild", b)
}

// TestAuditOutcomes: refused commands are "denied", refused logins "failed", model
// invocations "ok", "denied" (refused by the model policy) or "failed" (error, timeout).
func TestAuditOutcomes(t *testing.T) {
	t.Parallel()
	f := apptest.NewFixture(t)
	s := apptest.NewScript(f, keyring.NewPlainCodec())
	const (
		org   = apptest.OrgA
		user  = apptest.UserA
		conv  = apptest.ConvA
		space = apptest.SpaceA
	)
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	s.Emit("access-"+org, user, org, "", domain.AccessDenied{Actor: user, Command: domain.CmdDeleteSpace, TargetStream: "space-" + space,
		OrgRole: domain.OrgRoleUser, SpaceRole: domain.SpaceRoleViewer, Reason: domain.ReasonRole, DeniedAt: t0})
	s.Emit("access-"+org, domain.SystemActor, org, "", domain.LoginFailed{OrganizationID: org, LoginDigest: "d", Reason: "bad_password", FailedAt: t0})
	s.Emit("access-"+org, domain.SystemActor, org, "", domain.LoginSucceeded{OrganizationID: org, UserID: user, LoginDigest: "d", SucceededAt: t0})
	for i, outcome := range []string{domain.OutcomeOK, domain.OutcomeRefused, domain.OutcomeError, domain.OutcomeTimeout} {
		s.Emit("conversation-"+conv, user, org, space, domain.ModelInvocationRecorded{ConversationID: conv,
			InvocationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", 100+i), Model: "llm-a", Outcome: outcome, InvokedAt: t0})
	}
	r := f.Runner([]engine.Projection{projections.NewAudit()})
	f.Run(r)
	f.WaitHead(projections.NameAudit)
	rows, err := f.Pool.Query(f.Ctx, `SELECT action, outcome FROM audit_log ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for rows.Next() {
		var x [2]string
		if err := rows.Scan(&x[0], &x[1]); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	exp := [][2]string{
		{"access.denied.v1", "denied"}, {"access.login_failed.v1", "failed"}, {"access.login_succeeded.v1", "ok"},
		{"conversation.model_invocation_recorded.v1", "ok"}, {"conversation.model_invocation_recorded.v1", "denied"},
		{"conversation.model_invocation_recorded.v1", "failed"}, {"conversation.model_invocation_recorded.v1", "failed"},
	}
	if len(got) != len(exp) {
		t.Fatalf("audit rows %v, want %v", got, exp)
	}
	for i := range exp {
		if got[i] != exp[i] {
			t.Errorf("row %d: %v, want %v", i, got[i], exp[i])
		}
	}
}
