package graphql_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/llm"
)

// actor is one caller of the RBAC matrix.
type actor struct {
	name    string
	id      string
	key     string
	org     domain.OrgRole
	space   domain.SpaceRole
	foreign bool // an Admin of another organisation
	anon    bool // no credentials
	// assistant is an assistant's API key (the authorisation sweep's integration caller).
	assistant bool
}

// world is organisation A with a space S (owned by a Creator who is its space Admin), an
// assistant X and a document D0 in it, one actor per organisation role × space role, an
// Admin of organisation B and an anonymous caller.
type world struct {
	s       *stack
	a       org
	ownerID string
	owner   string // owner's key
	space   string
	asst    string
	doc     string
	conv    string // the owner's conversation
	actors  []actor
	last    uint64
	t       testing.TB
	// idp is the identity provider the matrix configures; proof issues its proofs of
	// control.
	idp *idp
}

// proof returns a proof-of-control token the matrix's provider issued to user for audience.
func (w *world) proof(user, audience string) string {
	now := w.s.clock.Now()
	return w.idp.token(w.t.(*testing.T), map[string]any{"iss": w.idp.srv.URL, "aud": audience, "sub": user,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
}

func (w *world) meta(actorID string) commands.Meta {
	id := uuid.NewString()
	return commands.Meta{CommandID: id, ActorID: actorID}
}

func (w *world) note(r commands.Result, err error) string {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("setup: %v", err)
	}
	w.last = max(w.last, r.Position)
	return r.ID
}

// freshUser registers a user of A directly through the commands (no read-model wait).
func (w *world) freshUser(t testing.TB, role domain.OrgRole) string {
	return w.note(w.s.p.App.RegisterUser.Handle(context.Background(), commands.RegisterUser{Meta: w.meta(w.a.adminID),
		Email: "t-" + uuid.NewString()[:8] + "@example.org", Name: "Target", Role: role}))
}

func (w *world) freshMember(t testing.TB) string {
	u := w.freshUser(t, domain.OrgRoleUser)
	w.note(w.s.p.App.AddSpaceMember.Handle(context.Background(), commands.AddSpaceMember{Meta: w.meta(w.ownerID),
		SpaceID: w.space, UserID: u, Role: domain.SpaceRoleViewer}))
	return u
}

func (w *world) freshDoc(t testing.TB) string {
	return w.note(w.s.p.App.IngestDocument.Handle(context.Background(), commands.IngestDocument{Meta: w.meta(w.ownerID),
		SpaceID: w.space, Title: "Fresh", ContentType: "text/plain", Text: "Fresh document text about budgets."}))
}

func newWorld(t *testing.T, s *stack) *world {
	w := &world{s: s, a: s.newOrg(t, testSettings()), t: t, idp: newIDP(t)}
	ctx := context.Background()
	w.ownerID, w.owner = s.user(t, w.a, "CREATOR")
	w.space = s.space(t, w.owner)
	w.note(s.p.App.EnableSpaceModels.Handle(ctx, commands.EnableSpaceModels{Meta: w.meta(w.ownerID), SpaceID: w.space,
		Models: []domain.ModelID{"test-model"}}))
	w.asst = w.note(s.p.App.CreateAssistant.Handle(ctx, commands.CreateAssistant{Meta: w.meta(w.ownerID), SpaceID: w.space,
		Spec: domain.AssistantSpec{Name: "Helper", Instructions: "Answer from the documents.", Model: "test-model"}}))
	w.doc = w.note(s.p.App.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: w.meta(w.ownerID), SpaceID: w.space,
		Title: "Budget", ContentType: "text/plain", Text: "The budget for 2026 is forty million crowns."}))
	w.conv = w.note(s.p.App.StartConversation.Handle(ctx, commands.StartConversation{Meta: w.meta(w.ownerID), AssistantID: w.asst}))
	for _, or := range domain.OrgRoles() {
		for _, sr := range domain.SpaceRoles() {
			id, key := s.user(t, w.a, string(or))
			if sr != domain.SpaceRoleNone {
				w.note(s.p.App.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: w.meta(w.ownerID),
					SpaceID: w.space, UserID: id, Role: sr}))
			}
			w.actors = append(w.actors, actor{name: fmt.Sprintf("%s/%s", or, orNone(sr)), id: id, key: key, org: or, space: sr})
		}
	}
	b := s.newOrg(t, testSettings())
	w.actors = append(w.actors, actor{name: "other-org-admin", id: b.adminID, key: b.adminKey, org: domain.OrgRoleAdmin, foreign: true},
		actor{name: "anonymous", anon: true})
	s.wait(t, strconv.FormatUint(w.last, 10))
	return w
}

func orNone(r domain.SpaceRole) string {
	if r == domain.SpaceRoleNone {
		return "none"
	}
	return string(r)
}

// operation is one mutation of the matrix: the command that authorises it, whether it
// targets an object of organisation A, and how to build its variables for an actor
// (creating a fresh target when it needs one).
type operation struct {
	cmd      domain.Command
	targeted bool
	query    string
	vars     func(t testing.TB, w *world, a actor) map[string]any
}

func in(m map[string]any) map[string]any { return map[string]any{"in": m} }

const (
	mConfigureIdP = `mutation($in: ConfigureIdentityProviderInput!) { configureIdentityProvider(input: $in) { id position } }`
	mRemoveIdP    = `mutation($in: RemoveIdentityProviderInput!) { removeIdentityProvider(input: $in) { id position } }`
)

func mutations() map[string]operation {
	settings := map[string]any{"models": []any{map[string]any{"id": "test-model", "endpoint": llm.OfflineEndpoint,
		"region": "EU", "maxClassification": "RESTRICTED"}}, "classificationLevels": []any{"PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"},
		"defaultMessageRetentionDays": 365, "auditRetention": map[string]any{"mode": "DAYS_90", "days": 90}, "erasureGraceDays": 14,
		"sessionIdleTimeoutMinutes": 30, "password": map[string]any{"minLength": 10, "requireUpper": false, "requireDigit": false,
			"requireSymbol": false, "maxAgeDays": 0, "historyEntries": 0}, "mfaRequired": false, "euOnly": true}
	return map[string]operation{
		"inviteUser": {domain.CmdRegisterUser, false, `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"email": "n-" + uuid.NewString()[:8] + "@example.org", "name": "New", "role": "USER"})
			}},
		"grantOrgRole": {domain.CmdChangeUserRole, true, `mutation($in: GrantOrgRoleInput!) { grantOrgRole(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"userId": w.freshUser(t, domain.OrgRoleUser), "role": "CREATOR"})
			}},
		"revokeOrgRole": {domain.CmdChangeUserRole, true, `mutation($in: RevokeOrgRoleInput!) { revokeOrgRole(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"userId": w.freshUser(t, domain.OrgRoleCreator), "role": "CREATOR"})
			}},
		"deactivateUser": {domain.CmdDeactivateUser, true, `mutation($in: DeactivateUserInput!) { deactivateUser(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"userId": w.freshUser(t, domain.OrgRoleUser)})
			}},
		"updateOrganizationSettings": {domain.CmdChangeOrganizationSettings, false,
			`mutation($in: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any { return in(settings) }},
		"configureIdentityProvider": {domain.CmdConfigureIdentityProvider, false, mConfigureIdP,
			func(t testing.TB, w *world, a actor) map[string]any {
				aud := "api://" + uuid.NewString()[:8]
				return in(map[string]any{"issuer": w.idp.srv.URL, "audience": aud, "allowedAmr": []any{"mfa"}, "proofToken": w.proof(a.id, aud)})
			}},
		"removeIdentityProvider": {domain.CmdRemoveIdentityProvider, false, mRemoveIdP,
			func(t testing.TB, w *world, a actor) map[string]any {
				// A pair of the actor's own organisation (the other organisation's Admin
				// removes one of theirs).
				admin := w.a.adminID
				if a.foreign {
					admin = a.id
				}
				aud := "api://" + uuid.NewString()[:8]
				w.note(w.s.p.App.ConfigureIdentityProvider.Handle(context.Background(), commands.ConfigureIdentityProvider{
					Meta: w.meta(admin), Issuer: w.idp.srv.URL, Audience: aud, ProofToken: w.proof(admin, aud)}))
				return in(map[string]any{"issuer": w.idp.srv.URL, "audience": aud})
			}},
		"createSpace": {domain.CmdCreateSpace, false, mCreateSpace,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"name": "Another", "classification": "INTERNAL"})
			}},
		"addSpaceMember": {domain.CmdAddSpaceMember, true, mAddMember,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "userId": w.freshUser(t, domain.OrgRoleUser), "role": "VIEWER"})
			}},
		"changeSpaceRole": {domain.CmdChangeSpaceMemberRole, true, `mutation($in: ChangeSpaceRoleInput!) { changeSpaceRole(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "userId": w.freshMember(t), "role": "EDITOR"})
			}},
		"removeSpaceMember": {domain.CmdRemoveSpaceMember, true, `mutation($in: RemoveSpaceMemberInput!) { removeSpaceMember(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "userId": w.freshMember(t)})
			}},
		"enableSpaceModels": {domain.CmdEnableSpaceModels, true, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "modelIds": []any{"test-model"}})
			}},
		"createAssistant": {domain.CmdCreateAssistant, true, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "name": "A2", "instructions": "Be brief.", "modelId": "test-model"})
			}},
		"updateAssistant": {domain.CmdUpdateAssistant, true, `mutation($in: UpdateAssistantInput!) { updateAssistant(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"assistantId": w.asst, "name": "Helper", "instructions": "Answer from the documents, " + uuid.NewString()[:4], "modelId": "test-model"})
			}},
		"ingestDocument": {domain.CmdIngestDocument, true, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"spaceId": w.space, "title": "Notes", "content": "Meeting notes."})
			}},
		"deleteDocument": {domain.CmdDeleteDocument, true, `mutation($id: ID!) { deleteDocument(id: $id) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any { return map[string]any{"id": w.freshDoc(t)} }},
		"startConversation": {domain.CmdStartConversation, true, `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any { return in(map[string]any{"assistantId": w.asst}) }},
		"sendMessage": {domain.CmdSendMessage, true, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id position message { id text } reply { id text } } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				conv := w.conv
				if !a.anon && !a.foreign && domain.Allowed(domain.CmdStartConversation, a.org, a.space) {
					conv = w.note(w.s.p.App.StartConversation.Handle(context.Background(), commands.StartConversation{Meta: w.meta(a.id), AssistantID: w.asst}))
				}
				return in(map[string]any{"conversationId": conv, "text": "What is the budget?"})
			}},
		"createApiKey": {domain.CmdCreateAPIKey, true, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret prefix position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"userId": w.freshUser(t, domain.OrgRoleUser)})
			}},
		"revokeApiKey": {domain.CmdRevokeAPIKey, true, `mutation($id: ID!) { revokeApiKey(id: $id) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				res, err := w.s.p.App.CreateAPIKey.Handle(context.Background(), commands.CreateAPIKey{Meta: w.meta(w.a.adminID),
					OwnerKind: domain.KeyOwnerUser, OwnerID: w.freshUser(t, domain.OrgRoleUser)})
				if err != nil {
					t.Fatal(err)
				}
				return map[string]any{"id": res.KeyID}
			}},
		"requestErasure": {domain.CmdRequestErasure, true, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return in(map[string]any{"subjectType": "DOCUMENT", "subjectId": w.freshDoc(t)})
			}},
		"restoreErasure": {domain.CmdRestoreErasure, true, `mutation($id: ID!) { restoreErasure(id: $id) { id position } }`,
			func(t testing.TB, w *world, a actor) map[string]any {
				return map[string]any{"id": w.note(w.s.p.App.RequestErasure.Handle(context.Background(), commands.RequestErasure{
					Meta: w.meta(w.a.adminID), SubjectType: domain.SubjectDocument, SubjectID: w.freshDoc(t)}))}
			}},
	}
}

// expected is the code an operation must end with for an actor ("" for success), derived
// from the domain's RBAC table: anonymous callers are UNAUTHENTICATED; an Admin of another
// organisation is FORBIDDEN on organisation A's objects and acts in their own organisation
// otherwise; everyone else is allowed exactly where the table allows their organisation role
// and (for space-scoped commands) their role in S.
func expected(op operation, a actor) string {
	switch {
	case a.anon:
		return "UNAUTHENTICATED"
	case a.foreign && op.targeted:
		return "FORBIDDEN"
	}
	space := domain.SpaceRoleNone
	if domain.ScopeOf(op.cmd) == domain.ScopeSpace && !a.foreign {
		space = a.space
	}
	if domain.Allowed(op.cmd, a.org, space) {
		return ""
	}
	return "FORBIDDEN"
}

func testRBACMatrix(t *testing.T, s *stack) {
	w := newWorld(t, s)
	ops := mutations()
	if len(ops) != 22 {
		t.Fatalf("the matrix covers %d mutations", len(ops))
	}
	for name, op := range ops {
		for _, a := range w.actors {
			vars := op.vars(t, w, a)
			r := s.do(t, a.key, op.query, vars)
			want := expected(op, a)
			if got := r.code(); got != want {
				t.Errorf("%s as %s: code %q, want %q (errors %+v)", name, a.name, got, want, r.Errors)
				continue
			}
			if want == "" {
				res := r.Data[name].(map[string]any)
				if res["id"] == "" || res["position"] == "" {
					t.Errorf("%s as %s: result %v", name, a.name, res)
				}
			} else if r.Data != nil && r.Data[name] != nil {
				t.Errorf("%s as %s: refused but returned %v", name, a.name, r.Data[name])
			}
		}
	}
	s.wait(t, strconv.FormatUint(w.last, 10))
	testQueryMatrix(t, w)
}

// testQueryMatrix checks what each actor sees: space content only for members of S,
// administration queries only for Admins, nothing of organisation A for the other
// organisation's Admin.
func testQueryMatrix(t *testing.T, w *world) {
	s := w.s
	for _, a := range w.actors {
		member := !a.anon && !a.foreign && domain.Allowed(domain.CmdViewDocument, a.org, a.space)
		admin := !a.anon && domain.Allowed(domain.CmdViewAuditLog, a.org, domain.SpaceRoleNone)
		q := `query($s: ID!, $d: ID!, $c: ID!) {
			space(id: $s) { id members { id } }
			documents(spaceId: $s) { edges { node { id } } }
			assistants(spaceId: $s) { edges { node { id } } }
			document(id: $d) { id title content }
			conversation(id: $c) { id }
			me { id }
			organization { id }
			apiKeys { edges { node { id ownerId } } }
		}`
		r := s.do(t, a.key, q, map[string]any{"s": w.space, "d": w.doc, "c": w.conv})
		if a.anon {
			if r.code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous queries: %+v", r.Errors)
			}
			continue
		}
		if len(r.Errors) > 0 {
			t.Errorf("queries as %s: %+v", a.name, r.Errors)
			continue
		}
		if got := r.Data["space"] != nil; got != member {
			t.Errorf("space as %s: visible %v, want %v", a.name, got, member)
		}
		if got := len(r.Data["documents"].(map[string]any)["edges"].([]any)) > 0; got != member {
			t.Errorf("documents as %s: visible %v, want %v", a.name, got, member)
		}
		if got := len(r.Data["assistants"].(map[string]any)["edges"].([]any)) > 0; got != member {
			t.Errorf("assistants as %s: visible %v, want %v", a.name, got, member)
		}
		if d, _ := r.Data["document"].(map[string]any); (d != nil && d["content"] != nil) != member {
			t.Errorf("document content as %s: %v, member %v", a.name, d, member)
		}
		if r.Data["conversation"] != nil {
			t.Errorf("conversation of the owner visible to %s", a.name)
		}
		wantOrg := w.a.id
		if a.foreign {
			wantOrg = ""
		}
		if o := r.Data["organization"].(map[string]any)["id"]; wantOrg != "" && o != wantOrg || a.foreign && o == w.a.id {
			t.Errorf("organization as %s: %v", a.name, o)
		}
		for _, e := range r.Data["apiKeys"].(map[string]any)["edges"].([]any) {
			if owner := e.(map[string]any)["node"].(map[string]any)["ownerId"]; !admin && owner != a.id {
				t.Errorf("apiKeys as %s: sees a key of %v", a.name, owner)
			}
		}
		adm := s.do(t, a.key, `query($s: ID!, $u: ID!) {
			whoCanAccess(spaceId: $s) { id userId role }
			accessOf(userId: $u) { id spaceId }
			auditLog(justification: "RBAC matrix test read", first: 100) { edges { node { id action targetId spaceId } } }
		}`, map[string]any{"s": w.space, "u": w.ownerID})
		if !admin {
			if adm.code() != "FORBIDDEN" {
				t.Errorf("admin queries as %s: code %q", a.name, adm.code())
			}
			continue
		}
		if len(adm.Errors) > 0 {
			t.Errorf("admin queries as %s: %+v", a.name, adm.Errors)
			continue
		}
		who := adm.Data["whoCanAccess"].([]any)
		if a.foreign != (len(who) == 0) {
			t.Errorf("whoCanAccess as %s: %d entries", a.name, len(who))
		}
		for _, e := range adm.Data["auditLog"].(map[string]any)["edges"].([]any) {
			// The other organisation's log holds its own refused attempts on S (access
			// denied, naming the id it tried), nothing of what happened in S.
			n := e.(map[string]any)["node"].(map[string]any)
			if a.foreign && (n["spaceId"] == w.space || n["targetId"] == w.space) && n["action"] != "access.denied.v1" {
				t.Errorf("auditLog as %s shows organisation A's space: %v", a.name, n)
			}
		}
	}
	if t.Failed() {
		return
	}
	// The owner sees their own conversation.
	r := s.ok(t, w.owner, `query($c: ID!) { conversation(id: $c) { id messages { edges { node { id } } } } }`, map[string]any{"c": w.conv})
	if r["conversation"] == nil {
		t.Error("the owner does not see their conversation")
	}
}
