package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// fixture is what one role combination's commands act on, all in organisation o: a space
// with an assistant and a document, a conversation of the actor with one message, two more
// users (one a space member), an API key and two erasure orders.
type fixture struct {
	o                       org
	actor                   string
	space, assistant        string
	document, conversation  string
	message, member, target string
	extra, key              string
	toRestore, toComplete   string
	docToRestore, hold      string
	audience                string // of an identity provider of o, for RemoveIdentityProvider
}

// newFixture builds a fixture for an actor with the organisation role orgRole and the
// space role spaceRole. The actor starts the conversation as a Viewer, then gets their role.
func (w *world) newFixture(o org, orgRole domain.OrgRole, spaceRole domain.SpaceRole) *fixture {
	w.t.Helper()
	t, ctx := w.t, w.ctx
	f := &fixture{o: o, actor: w.user(o, orgRole), member: w.user(o, domain.OrgRoleUser),
		target: w.user(o, domain.OrgRoleUser), extra: w.user(o, domain.OrgRoleUser)}
	f.space, f.assistant = w.space(o)
	a := w.app
	must(a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: f.space, UserID: f.member, Role: domain.SpaceRoleViewer}))(t)
	must(a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: f.space, UserID: f.actor, Role: domain.SpaceRoleViewer}))(t)
	f.document = must(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(o.admin), SpaceID: f.space,
		Title: "Doc", ContentType: "text/plain", Text: "Some text."}))(t).ID
	f.conversation = must(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(f.actor), AssistantID: f.assistant}))(t).ID
	f.message = must(a.SendMessage.Handle(ctx, commands.SendMessage{Meta: meta(f.actor), ConversationID: f.conversation, Text: "Hello?"}))(t).ID
	switch spaceRole {
	case domain.SpaceRoleNone:
		must(a.RemoveSpaceMember.Handle(ctx, commands.RemoveSpaceMember{Meta: meta(o.admin), SpaceID: f.space, UserID: f.actor}))(t)
	case domain.SpaceRoleEditor, domain.SpaceRoleAdmin:
		must(a.ChangeSpaceMemberRole.Handle(ctx, commands.ChangeSpaceMemberRole{Meta: meta(o.admin), SpaceID: f.space, UserID: f.actor, Role: spaceRole}))(t)
	}
	f.key = must(a.CreateAPIKey.Handle(ctx, commands.CreateAPIKey{Meta: meta(o.admin), OwnerKind: domain.KeyOwnerUser, OwnerID: f.target}))(t).KeyID
	one, zero := 1, 0
	f.toRestore = must(a.RequestErasure.Handle(ctx, commands.RequestErasure{Meta: meta(o.admin), SubjectType: domain.SubjectUser, SubjectID: f.member, GraceDays: &one}))(t).ID
	f.toComplete = must(a.RequestErasure.Handle(ctx, commands.RequestErasure{Meta: meta(o.admin), SubjectType: domain.SubjectDocument, SubjectID: f.document, GraceDays: &zero}))(t).ID
	spare := must(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(o.admin), SpaceID: f.space,
		Title: "Spare", ContentType: "text/plain", Text: "Spare text."}))(t).ID
	f.docToRestore = must(a.DeleteDocument.Handle(ctx, commands.DeleteDocument{Meta: meta(o.admin), DocumentID: spare}))(t).ID
	f.hold = must(a.PlaceLegalHold.Handle(ctx, commands.PlaceLegalHold{Meta: meta(o.admin), SubjectType: domain.SubjectUser,
		SubjectID: f.target, Reason: "Arkivlagen 3 §"}))(t).ID
	f.audience = "api://fixture-" + f.actor[:8]
	must(a.ConfigureIdentityProvider.Handle(ctx, commands.ConfigureIdentityProvider{Meta: meta(o.admin), Issuer: matrixIssuer, Audience: f.audience}))(t)
	return f
}

// matrixCase runs one command as actor on a fixture. ownOrg marks commands whose target is
// the actor's own organisation by construction: they cannot name another organisation.
type matrixCase struct {
	cmd    domain.Command
	ownOrg bool
	run    func(w *world, f *fixture, m commands.Meta) error
}

func errOf[R any](_ R, err error) error { return err }

// matrixIssuer is the identity provider the matrix configures (never contacted).
const matrixIssuer = "https://idp.example.se/tenant"

// matrixCases lists every command, in an order where destructive ones come last.
func matrixCases() []matrixCase {
	now := time.Now()
	return []matrixCase{
		{domain.CmdChangeOrganizationSettings, true, func(w *world, f *fixture, m commands.Meta) error {
			s := domain.DefaultOrganizationSettings()
			s.Models = []domain.AllowedModel{
				{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted},
				{ID: "llm-b", Endpoint: "https://llm.example.eu/v1", Region: domain.RegionEU, MaxClassification: domain.ClassConfidential},
			}
			s.SessionIdleTimeoutMinutes = 5 + int(time.Now().UnixNano()%1000)
			return errOf(w.app.ChangeOrganizationSettings.Handle(w.ctx, commands.ChangeOrganizationSettings{Meta: m, Settings: s}))
		}},
		{domain.CmdConfigureIdentityProvider, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ConfigureIdentityProvider.Handle(w.ctx, commands.ConfigureIdentityProvider{Meta: m, Issuer: matrixIssuer,
				Audience: "api://new-" + m.CommandID[:8], AllowedAMR: []string{"mfa"}}))
		}},
		{domain.CmdRemoveIdentityProvider, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RemoveIdentityProvider.Handle(w.ctx, commands.RemoveIdentityProvider{Meta: m, Issuer: matrixIssuer, Audience: f.audience}))
		}},
		{domain.CmdRegisterUser, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RegisterUser.Handle(w.ctx, commands.RegisterUser{Meta: m, Email: "new-" + m.CommandID[:8] + "@example.se", Name: "New", Role: domain.OrgRoleUser}))
		}},
		{domain.CmdCreateSpace, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: m, Name: "Other", Classification: domain.ClassPublic}))
		}},
		{domain.CmdViewAuditLog, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ViewAuditLog.Handle(w.ctx, commands.ViewAuditLog{Meta: m, Justification: "Quarterly access review.", From: now.Add(-time.Hour), To: now}))
		}},
		{domain.CmdViewAuditIntegrity, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ViewAuditIntegrity.Handle(w.ctx, commands.ViewAuditIntegrity{Meta: m}))
		}},
		{domain.CmdExportAuditLog, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ExportAuditLog.Handle(w.ctx, commands.ExportAuditLog{Meta: m, Justification: "Auditor request 2026-17.", Format: domain.FormatJSONL, From: now.Add(-time.Hour), To: now}))
		}},
		{domain.CmdExportEvidence, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ExportEvidence.Handle(w.ctx, commands.ExportEvidence{Meta: m, From: now.Add(-time.Hour), To: now,
				ManifestSHA256: "abababababababababababababababababababababababababababababababab", TreeSize: 10}))
		}},
		{domain.CmdCreateAssistant, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.CreateAssistant.Handle(w.ctx, commands.CreateAssistant{Meta: m, SpaceID: f.space,
				Spec: domain.AssistantSpec{Name: "Second", Model: "llm-a"}}))
		}},
		{domain.CmdUpdateAssistant, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.UpdateAssistant.Handle(w.ctx, commands.UpdateAssistant{Meta: m, AssistantID: f.assistant,
				Spec: domain.AssistantSpec{Name: "Renamed " + m.CommandID[:8], Instructions: "Be brief.", Model: "llm-a", LogModelPayloads: true}}))
		}},
		{domain.CmdIngestDocument, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.IngestDocument.Handle(w.ctx, commands.IngestDocument{Meta: m, SpaceID: f.space, Title: "More", ContentType: "text/markdown", Text: "# More"}))
		}},
		{domain.CmdSearch, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordSearch.Handle(w.ctx, commands.RecordSearch{Meta: m, SpaceID: f.space, Hits: 3}))
		}},
		{domain.CmdViewAccess, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordAccessQuery.Handle(w.ctx, commands.RecordAccessQuery{Meta: m, SpaceID: f.space}))
		}},
		{domain.CmdSubscribeAudit, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordAuditSubscription.Handle(w.ctx, commands.RecordAuditSubscription{Meta: m}))
		}},
		{domain.CmdLogout, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordLogout.Handle(w.ctx, commands.RecordLogout{Meta: m}))
		}},
		{domain.CmdViewDocument, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ViewDocument.Handle(w.ctx, commands.ViewDocument{Meta: m, DocumentID: f.document}))
		}},
		{domain.CmdStartConversation, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.StartConversation.Handle(w.ctx, commands.StartConversation{Meta: m, AssistantID: f.assistant}))
		}},
		{domain.CmdSendMessage, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.SendMessage.Handle(w.ctx, commands.SendMessage{Meta: m, ConversationID: f.conversation, Text: "Again?"}))
		}},
		{domain.CmdRecordModelInvocation, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordModelInvocation.Handle(w.ctx, commands.RecordModelInvocation{Meta: m, ConversationID: f.conversation,
				Invocation: domain.ModelInvocation{MessageID: f.message, Model: "llm-a", Region: domain.RegionSE, RequestPayload: "{}",
					ResponsePayload: "{}", PromptTokens: 3, CompletionTokens: 2, LatencyMillis: 40, Outcome: domain.OutcomeOK}}))
		}},
		{domain.CmdEnableSpaceModels, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.EnableSpaceModels.Handle(w.ctx, commands.EnableSpaceModels{Meta: m, SpaceID: f.space, Models: []domain.ModelID{"llm-a", "llm-b"}}))
		}},
		{domain.CmdAddSpaceMember, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.AddSpaceMember.Handle(w.ctx, commands.AddSpaceMember{Meta: m, SpaceID: f.space, UserID: f.extra, Role: domain.SpaceRoleViewer}))
		}},
		{domain.CmdChangeSpaceMemberRole, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ChangeSpaceMemberRole.Handle(w.ctx, commands.ChangeSpaceMemberRole{Meta: m, SpaceID: f.space, UserID: f.member, Role: domain.SpaceRoleEditor}))
		}},
		{domain.CmdCreateAPIKey, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.CreateAPIKey.Handle(w.ctx, commands.CreateAPIKey{Meta: m, OwnerKind: domain.KeyOwnerUser, OwnerID: f.target}))
		}},
		{domain.CmdRecordAPIKeyUse, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RecordAPIKeyUse.Handle(w.ctx, commands.RecordAPIKeyUse{Meta: m, KeyID: f.key}))
		}},
		{domain.CmdExportData, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ExportData.Handle(w.ctx, commands.ExportData{Meta: m, SubjectType: domain.SubjectUser, SubjectID: f.target,
				Format: domain.FormatJSONL, Justification: "Subject access request."}))
		}},
		{domain.CmdRequestErasure, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: m, SubjectType: domain.SubjectConversation, SubjectID: f.conversation}))
		}},
		{domain.CmdRestoreErasure, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RestoreErasure.Handle(w.ctx, commands.RestoreErasure{Meta: m, ErasureID: f.toRestore}))
		}},
		{domain.CmdRestoreDeletedItem, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RestoreErasure.Handle(w.ctx, commands.RestoreErasure{Meta: m, ErasureID: f.docToRestore}))
		}},
		{domain.CmdPlaceLegalHold, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.PlaceLegalHold.Handle(w.ctx, commands.PlaceLegalHold{Meta: m, SubjectType: domain.SubjectUser, SubjectID: f.extra,
				Reason: "Arkivlagen 3 §"}))
		}},
		{domain.CmdLiftLegalHold, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.LiftLegalHold.Handle(w.ctx, commands.LiftLegalHold{Meta: m, HoldID: f.hold, Reason: "case closed"}))
		}},
		{domain.CmdDeleteConversation, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.DeleteConversation.Handle(w.ctx, commands.DeleteConversation{Meta: m, ConversationID: f.conversation}))
		}},
		{domain.CmdCompleteErasure, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.CompleteErasure.Handle(w.ctx, commands.CompleteErasure{Meta: m, ErasureID: f.toComplete}))
		}},
		{domain.CmdChangeUserRole, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ChangeUserRole.Handle(w.ctx, commands.ChangeUserRole{Meta: m, UserID: f.target, Role: domain.OrgRoleCreator}))
		}},
		{domain.CmdRevokeAPIKey, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RevokeAPIKey.Handle(w.ctx, commands.RevokeAPIKey{Meta: m, KeyID: f.key}))
		}},
		{domain.CmdDeactivateUser, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.DeactivateUser.Handle(w.ctx, commands.DeactivateUser{Meta: m, UserID: f.target}))
		}},
		{domain.CmdRemoveSpaceMember, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.RemoveSpaceMember.Handle(w.ctx, commands.RemoveSpaceMember{Meta: m, SpaceID: f.space, UserID: f.member}))
		}},
		{domain.CmdDeleteDocument, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.DeleteDocument.Handle(w.ctx, commands.DeleteDocument{Meta: m, DocumentID: f.document}))
		}},
		{domain.CmdDeleteAssistant, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.DeleteAssistant.Handle(w.ctx, commands.DeleteAssistant{Meta: m, AssistantID: f.assistant}))
		}},
		{domain.CmdViewModelInvocations, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ViewModelInvocations.Handle(w.ctx, commands.ViewModelInvocations{Meta: m, SpaceID: f.space,
				Justification: "Reviewing what reached the models."}))
		}},
		{domain.CmdViewHistory, true, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.ViewHistory.Handle(w.ctx, commands.ViewHistory{Meta: m, Query: domain.HistorySpaceAccess,
				TargetID: f.space, AsOf: time.Now()}))
		}},
		{domain.CmdDeleteSpace, false, func(w *world, f *fixture, m commands.Meta) error {
			return errOf(w.app.DeleteSpace.Handle(w.ctx, commands.DeleteSpace{Meta: m, SpaceID: f.space}))
		}},
	}
}

// TestRBACMatrix runs every command as every combination of organisation role and space
// role (including none), and as an Admin of another organisation, through the real
// handlers, event store and keyring: allowed exactly where the RBAC table says, refused
// elsewhere with KindForbidden and an access.denied event in the actor's organisation's log.
func TestRBACMatrix(t *testing.T) {
	w := newWorld(t, true)
	cases := matrixCases()
	covered := map[domain.Command]bool{}
	for _, c := range cases {
		covered[c.cmd] = true
	}
	for _, cmd := range domain.Commands() {
		if !covered[cmd] {
			t.Fatalf("command %s is not exercised by the matrix", cmd)
		}
	}
	o := w.bootstrap("Org A", "admin@a.example")
	allowed, denied := 0, 0
	for _, orgRole := range domain.OrgRoles() {
		for _, spaceRole := range domain.SpaceRoles() {
			name := fmt.Sprintf("%s/%s", orgRole, orDash(string(spaceRole)))
			t.Run(name, func(t *testing.T) {
				sub := *w
				sub.t = t
				f := sub.newFixture(o, orgRole, spaceRole)
				for _, c := range cases {
					role := spaceRole
					if domain.ScopeOf(c.cmd) == domain.ScopeOrganization {
						role = domain.SpaceRoleNone
					}
					m := meta(f.actor)
					err := c.run(&sub, f, m)
					if domain.Allowed(c.cmd, orgRole, role) {
						allowed++
						if err != nil {
							t.Errorf("%s: allowed by the table but failed: %v (%s)", c.cmd, err, domain.KindOf(err))
						}
						continue
					}
					denied++
					sub.expectDenied(c.cmd, o.id, f.actor, m, err, domain.ReasonRole)
				}
			})
		}
	}
	if want := len(cases) * len(domain.OrgRoles()) * len(domain.SpaceRoles()); allowed+denied != want || allowed == 0 || denied == 0 {
		t.Fatalf("%d allowed + %d denied runs, want %d in all", allowed, denied, want)
	}
	t.Run("other-organisation", func(t *testing.T) {
		sub := *w
		sub.t = t
		b := sub.bootstrap("Org B", "admin@b.example")
		f := sub.newFixture(o, domain.OrgRoleUser, domain.SpaceRoleViewer)
		for _, c := range cases {
			if c.ownOrg {
				continue
			}
			m := meta(b.admin)
			err := c.run(&sub, f, m)
			sub.expectDenied(c.cmd, b.id, b.admin, m, err, domain.ReasonOrganization)
		}
	})
}

func (w *world) expectDenied(cmd domain.Command, actorOrg, actor string, m commands.Meta, err error, reason string) {
	w.t.Helper()
	if !domain.Is(domain.KindForbidden, err) {
		w.t.Errorf("%s: want FORBIDDEN, got %v (%s)", cmd, err, domain.KindOf(err))
		return
	}
	d, ok := w.denial(actorOrg, m.CommandID)
	if !ok {
		w.t.Errorf("%s: refused without an access.denied event", cmd)
		return
	}
	if d.Actor != actor || d.Command != cmd || d.Reason != reason {
		w.t.Errorf("%s: denial %+v, want actor %s, reason %q", cmd, d, actor, reason)
	}
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
