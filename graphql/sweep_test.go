package graphql_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// The authorisation sweep (issue 24 item 3): every Query, Mutation and Subscription field of
// schema.graphql, run as every kind of caller, against one declarative table. A field of the
// schema without a row fails the test, as does a row without a field.
//
// Adding a row is one line: the field, its rule and the operation, whose variables come from
// sweepVars ($space, $doc, $asst, $conv, $user, $event, $export, $from, $to, $login…):
//
//	{"Query.newThing", member, `query($space: ID!) { newThing(spaceId: $space) { id } }`},
//
// A mutation whose command is in rbac_test.go's mutations() uses the rule cmd and no
// operation: the matrix's own operation and fresh targets run, and the domain's RBAC table
// decides.

// The outcomes of a cell: the field answered something, answered nothing (null, an empty
// list or connection: the object is invisible to the caller), or failed with a code.
const (
	ok     = "ok"
	hidden = "hidden"
	forbid = "FORBIDDEN"
	unauth = "UNAUTHENTICATED"
)

// rule is a row's expected outcome for a caller.
type rule func(a actor) string

// signedIn wraps a rule for callers who are users: no credentials are UNAUTHENTICATED and an
// assistant's API key is FORBIDDEN (it runs no operation of the API's users).
func signedIn(f rule) rule {
	return func(a actor) string {
		switch {
		case a.anon:
			return unauth
		case a.assistant:
			return forbid
		}
		return f(a)
	}
}

// The rules.
var (
	// public: anyone, credentials or not.
	public rule = func(actor) string { return ok }
	// anyUser: every user, of any organisation, answered about themselves or their own
	// organisation.
	anyUser = signedIn(func(actor) string { return ok })
	// anyCaller: every caller with credentials, an assistant's key included (it reads its
	// own organisation).
	anyCaller rule = func(a actor) string {
		if a.anon {
			return unauth
		}
		return ok
	}
	// member: members of space S (any space role) see it; everyone else gets nothing.
	member = signedIn(func(a actor) string {
		if !a.foreign && a.space != domain.SpaceRoleNone {
			return ok
		}
		return hidden
	})
	// memberOrNotFound: as member, but a non-member is told NOT_FOUND (subscriptions).
	memberOrNotFound = signedIn(func(a actor) string {
		if !a.foreign && a.space != domain.SpaceRoleNone {
			return ok
		}
		return "NOT_FOUND"
	})
	// admin: organisation Admins, each of their own organisation (the other organisation's
	// Admin is answered about theirs).
	admin = signedIn(func(a actor) string {
		if a.org != domain.OrgRoleAdmin {
			return forbid
		}
		return ok
	})
	// adminOfA: organisation Admins of A see A's object; the other organisation's Admin
	// gets nothing.
	adminOfA = signedIn(func(a actor) string {
		switch {
		case a.org != domain.OrgRoleAdmin:
			return forbid
		case a.foreign:
			return hidden
		}
		return ok
	})
	// adminOfAOr: as adminOfA, but the other organisation's Admin gets the code given.
	adminOfAOr = func(code string) rule {
		return signedIn(func(a actor) string {
			switch {
			case a.org != domain.OrgRoleAdmin:
				return forbid
			case a.foreign:
				return code
			}
			return ok
		})
	}
	// keyHolder: every caller with credentials gets code (e.g. logout, sessions only).
	keyHolder = func(code string) rule {
		return func(a actor) string {
			if a.anon {
				return unauth
			}
			return code
		}
	}
	// adminsSeeNothing: organisation Admins are answered with nothing, everyone else FORBIDDEN.
	adminsSeeNothing = signedIn(func(a actor) string {
		if a.org != domain.OrgRoleAdmin {
			return forbid
		}
		return hidden
	})
	// adminsOnly: organisation Admins (of any organisation) are answered, other users get
	// code.
	adminsOnly = func(code string) rule {
		return signedIn(func(a actor) string {
			if a.org != domain.OrgRoleAdmin {
				return code
			}
			return ok
		})
	}
	// cmd: the mutation of rbac_test.go's mutations() with the same name, as the domain's
	// RBAC table decides (expected).
	cmd rule
)

// sweepRow is one field of the schema with its rule and the operation that exercises it.
type sweepRow struct {
	field string
	rule  rule
	op    string
}

func sweepRows() []sweepRow {
	return []sweepRow{
		{"Query.version", public, `{ version }`},
		{"Query.me", anyUser, `{ me { id } }`},
		{"Query.organization", anyCaller, `{ organization { id } }`},
		{"Query.spaces", member, `{ spaces { edges { node { id } } } }`},
		{"Query.space", member, `query($space: ID!) { space(id: $space) { id } }`},
		{"Query.assistants", member, `query($space: ID!) { assistants(spaceId: $space) { edges { node { id } } } }`},
		{"Query.documents", member, `query($space: ID!) { documents(spaceId: $space) { edges { node { id } } } }`},
		{"Query.document", member, `query($doc: ID!) { document(id: $doc) { id content } }`},
		{"Query.conversation", member, `query($conv: ID!) { conversation(id: $conv) { id } }`},
		{"Query.search", member, `query($space: ID!) { search(spaceId: $space, query: "budget") { chunkId } }`},
		{"Query.searchConnection", member, `query($space: ID!) { searchConnection(spaceId: $space, query: "budget") { edges { score } } }`},
		{"Query.whoCanAccess", adminOfA, `query($space: ID!) { whoCanAccess(spaceId: $space) { id } }`},
		{"Query.whoCanAccessConnection", adminOfA, `query($space: ID!) { whoCanAccessConnection(spaceId: $space) { edges { node { id } } } }`},
		{"Query.accessOf", adminOfA, `query($user: ID!) { accessOf(userId: $user) { id } }`},
		{"Query.accessOfConnection", adminOfA, `query($user: ID!) { accessOfConnection(userId: $user) { edges { node { id } } } }`},
		{"Query.organizationSettings", admin, `{ organizationSettings { exists } }`},
		{"Query.assistant", adminOfA, `query($asst: ID!) { assistant(id: $asst) { id } }`},
		{"Query.auditLog", admin, `{ auditLog(justification: "Authorisation sweep read") { edges { node { id } } } }`},
		{"Query.apiKeys", anyUser, `{ apiKeys { edges { node { id } } } }`},
		{"Query.modelInvocations", adminOfA, `{ modelInvocations(justification: "Authorisation sweep read") { edges { node { id } } } }`},
		{"Query.auditIntegrity", admin, `{ auditIntegrity { publicKey } }`},
		{"Query.auditProof", adminOfAOr("NOT_FOUND"), `query($event: ID!) { auditProof(eventId: $event) }`},
		{"Query.evidenceExport", adminOfA, `query($export: ID!) { evidenceExport(id: $export) { id } }`},
		// Only the Admin who started an audit export sees its job (the fixture's is the
		// organisation's first Admin's, none of the callers').
		{"Query.auditExportJob", adminsSeeNothing, `query($auditJob: ID!) { auditExportJob(id: $auditJob) { id } }`},
		// Admins opened an audit session with the auditLog row before; nobody else has one.
		{"Query.auditSession", adminsOnly(hidden), `{ auditSession { expiresAt } }`},
		// Nothing of A is deleted, held or certified when the queries run.
		{"Query.deletedItems", adminsSeeNothing, `{ deletedItems { erasureId } }`},
		{"Query.legalHolds", adminsSeeNothing, `{ legalHolds { id } }`},
		{"Query.erasureCertificate", adminsSeeNothing, `query($user: ID!) { erasureCertificate(id: $user) { erasureId } }`},
		{"Query.node", member, `query($space: ID!) { node(id: $space) { id } }`},
		{"Query.nodes", member, `query($space: ID!, $doc: ID!) { nodes(ids: [$space, $doc]) { id } }`},

		{"Mutation.login", public, `mutation($org: ID!, $login: String!, $password: String!) { login(input: {organizationId: $org, login: $login, password: $password}) { id } }`},
		{"Mutation.logout", keyHolder("INVALID"), `mutation { logout { id } }`},
		{"Mutation.setPassword", adminOfAOr(forbid), `mutation($fresh: ID!, $freshLogin: String!) { setPassword(input: {userId: $fresh, login: $freshLogin, password: "Sweep-password-1"}) { id } }`},
		{"Mutation.inviteUser", cmd, ""},
		{"Mutation.grantOrgRole", cmd, ""},
		{"Mutation.revokeOrgRole", cmd, ""},
		{"Mutation.deactivateUser", cmd, ""},
		{"Mutation.updateOrganizationSettings", cmd, ""},
		{"Mutation.configureIdentityProvider", cmd, ""},
		{"Mutation.removeIdentityProvider", cmd, ""},
		{"Mutation.createSpace", cmd, ""},
		{"Mutation.addSpaceMember", cmd, ""},
		{"Mutation.changeSpaceRole", cmd, ""},
		{"Mutation.removeSpaceMember", cmd, ""},
		{"Mutation.enableSpaceModels", cmd, ""},
		{"Mutation.createAssistant", cmd, ""},
		{"Mutation.updateAssistant", cmd, ""},
		{"Mutation.deleteAssistant", cmd, ""},
		{"Mutation.deleteSpace", cmd, ""},
		{"Mutation.ingestDocument", cmd, ""},
		{"Mutation.deleteDocument", cmd, ""},
		{"Mutation.startConversation", cmd, ""},
		{"Mutation.sendMessage", cmd, ""},
		{"Mutation.createApiKey", cmd, ""},
		{"Mutation.revokeApiKey", cmd, ""},
		{"Mutation.requestErasure", cmd, ""},
		{"Mutation.restoreErasure", cmd, ""},
		{"Mutation.placeLegalHold", adminOfAOr(forbid), `mutation($fresh: ID!) { placeLegalHold(input: {subjectType: USER, subjectId: $fresh, reason: "Sweep hold"}) { id } }`},
		// No hold and no erasure has the id of a user.
		{"Mutation.liftLegalHold", signedIn(func(a actor) string {
			if a.org != domain.OrgRoleAdmin {
				return forbid
			}
			return "NOT_FOUND"
		}), `mutation($user: ID!) { liftLegalHold(input: {holdId: $user, reason: "Sweep lift"}) { id } }`},
		{"Mutation.restoreDeletedItem", signedIn(func(actor) string { return "NOT_FOUND" }), `mutation($user: ID!) { restoreDeletedItem(id: $user) { id } }`},
		// Each member deletes their own conversation; anyone else names the owner's and is refused.
		{"Mutation.deleteConversation", signedIn(func(a actor) string {
			if !a.foreign && a.space != domain.SpaceRoleNone {
				return ok
			}
			return forbid
		}), `mutation($conv: ID!) { deleteConversation(id: $conv) { id } }`},
		{"Mutation.exportAuditLog", admin, `mutation { exportAuditLog(format: JSONL, justification: "Authorisation sweep export") { rows } }`},
		{"Mutation.exportEvidence", admin, `mutation($from: Time!, $to: Time!) { exportEvidence(from: $from, to: $to) { id } }`},

		{"Subscription.messageAdded", memberOrNotFound, `subscription($conv: ID!) { messageAdded(conversationId: $conv) { id } }`},
		{"Subscription.auditEvents", admin, `subscription { auditEvents { id } }`},
		{"Subscription.replyStream", memberOrNotFound, `subscription($conv: ID!) { replyStream(conversationId: $conv) { delta } }`},
	}
}

// rootFields lists "Type.field" for every field of the schema's Query, Mutation and
// Subscription types.
func rootFields(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	var out []string
	for _, typ := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		for _, f := range typ.Fields {
			if !strings.HasPrefix(f.Name, "__") {
				out = append(out, typ.Name+"."+f.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestSweepTableCoversSchema: the table has exactly one row per root field (no stack).
func TestSweepTableCoversSchema(t *testing.T) {
	checkSweepTable(t)
}

func checkSweepTable(t *testing.T) map[string]sweepRow {
	t.Helper()
	rows := map[string]sweepRow{}
	ops := sweepMutations()
	for _, r := range sweepRows() {
		if _, dup := rows[r.field]; dup {
			t.Errorf("two rows for %s", r.field)
		}
		if r.rule == nil {
			if _, ok := ops[strings.TrimPrefix(r.field, "Mutation.")]; !ok || !strings.HasPrefix(r.field, "Mutation.") {
				t.Errorf("%s has the rule cmd but no operation in mutations()", r.field)
			}
		}
		rows[r.field] = r
	}
	fields := rootFields(t)
	for _, f := range fields {
		if _, ok := rows[f]; !ok {
			t.Errorf("%s is in schema.graphql but has no row in sweepRows (add one line: field, rule, operation)", f)
		}
	}
	for f := range rows {
		if !slices.Contains(fields, f) {
			t.Errorf("the row %s names no field of schema.graphql", f)
		}
	}
	return rows
}

// TestAuthorizationSweep runs every row as every caller: organisation Admin, Creator and User
// each without a role in space S and as its Admin, Editor and Viewer, an assistant's API key,
// no credentials, and the Admin of another organisation.
func TestAuthorizationSweep(t *testing.T) {
	rows := checkSweepTable(t)
	if t.Failed() {
		return
	}
	s := startStack(t, stackOptions{ledger: true})
	w := newWorld(t, s)
	ctx := context.Background()
	key, err := s.p.App.CreateAPIKey.Handle(ctx, commands.CreateAPIKey{Meta: w.meta(w.a.adminID),
		OwnerKind: domain.KeyOwnerAssistant, OwnerID: w.asst})
	if err != nil {
		t.Fatal(err)
	}
	w.last = max(w.last, key.Position)
	w.actors = append(w.actors, actor{name: "assistant-key", key: key.Secret, assistant: true})
	fx := newSweepFixtures(t, w)

	ops := sweepMutations()
	cells, wrong := 0, 0
	// Queries and subscriptions first: the mutations change what callers see (a Creator's
	// new space).
	fields := rootFields(t)
	last := func(f string) bool { return strings.HasPrefix(f, "Mutation.") }
	sort.SliceStable(fields, func(i, j int) bool { return !last(fields[i]) && last(fields[j]) })
	for _, f := range fields {
		row := rows[f]
		typ, name, _ := strings.Cut(f, ".")
		for _, a := range w.actors {
			var want, got string
			switch {
			case row.rule == nil:
				op := ops[name]
				want = expected(op, a)
				if a.assistant && !a.anon {
					want = forbid
				}
				if want == "" {
					want = ok
				}
				got = classify(s.do(t, a.key, op.query, op.vars(t, w, a)), name)
			case typ == "Subscription":
				want = row.rule(a)
				got = subscribeOutcome(t, s, a.key, row.op, fx.vars(w, a, row.op))
			default:
				want = row.rule(a)
				got = classify(s.do(t, a.key, row.op, fx.vars(w, a, row.op)), name)
			}
			cells++
			if got != want {
				wrong++
				t.Errorf("%s as %s: %s, want %s", f, a.name, got, want)
			}
		}
	}
	t.Logf("authorisation sweep: %d fields × %d callers = %d cells checked, %d wrong", len(rows), len(w.actors), cells, wrong)
}

// sweepFixtures are the objects the rows' variables name.
type sweepFixtures struct {
	event    string            // an event of organisation A covered by a checkpoint
	export   string            // an evidence export of organisation A
	auditJob string            // a background audit export of A's first Admin
	login    string            // a local account of A
	password string            // its password
	ownConv  map[string]string // each member's own conversation, by actor id
	from, to string
}

func newSweepFixtures(t *testing.T, w *world) *sweepFixtures {
	t.Helper()
	s, ctx := w.s, context.Background()
	fx := &sweepFixtures{ownConv: map[string]string{}, login: "sweep-" + uuid.NewString()[:8], password: "Sweep-password-1"}
	// Every member starts a conversation of their own and asks once (a model invocation).
	for _, a := range w.actors {
		if a.anon || a.foreign || a.assistant || a.space == domain.SpaceRoleNone {
			continue
		}
		fx.ownConv[a.id] = w.note(s.p.App.StartConversation.Handle(ctx, commands.StartConversation{Meta: w.meta(a.id), AssistantID: w.asst}))
	}
	s.wait(t, strconv.FormatUint(w.last, 10))
	s.ok(t, w.owner, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"conversationId": w.conv, "text": "What is the budget?"}})
	// A local account of A, for login.
	u := w.freshUser(t, domain.OrgRoleUser)
	w.note(s.p.App.SetPassword.Handle(ctx, commands.SetPassword{Meta: w.meta(w.a.adminID), OrganizationID: w.a.id,
		UserID: u, Login: fx.login, Password: fx.password}))
	// An evidence export of A.
	now := time.Now().UTC()
	fx.from, fx.to = now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	fx.export = s.ok(t, w.a.adminKey, `mutation($from: Time!, $to: Time!) { exportEvidence(from: $from, to: $to) { id } }`,
		map[string]any{"from": fx.from, "to": fx.to})["exportEvidence"].(map[string]any)["id"].(string)
	fx.auditJob = s.ok(t, w.a.adminKey, `mutation { exportAuditLog(format: JSONL, justification: "Authorisation sweep export", background: true) { job { id } } }`,
		nil)["exportAuditLog"].(map[string]any)["job"].(map[string]any)["id"].(string)
	// The organisation's creation event, once a checkpoint covers it.
	recs, _, err := s.p.Store.Load(ctx, domain.StreamPrefixOrganization+w.a.id)
	if err != nil || len(recs) == 0 {
		t.Fatalf("organisation stream: %d, %v", len(recs), err)
	}
	fx.event = recs[0].EventID
	deadline := time.Now().Add(30 * time.Second)
	for s.do(t, w.a.adminKey, `query($e: ID!) { auditProof(eventId: $e) }`, map[string]any{"e": fx.event}).code() != "" {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint covers the organisation's creation within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The search index has the document.
	deadline = time.Now().Add(30 * time.Second)
	for len(s.ok(t, w.owner, `query($s: ID!) { search(spaceId: $s, query: "budget") { chunkId } }`,
		map[string]any{"s": w.space})["search"].([]any)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the document is not searchable within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.wait(t, strconv.FormatUint(w.last, 10))
	return fx
}

// vars are the variables of a row for an actor: $conv is their own conversation when they
// have one (else the space owner's, which they may not see), $fresh a new user of A.
func (fx *sweepFixtures) vars(w *world, a actor, op string) map[string]any {
	conv := w.conv
	if c, ok := fx.ownConv[a.id]; ok {
		conv = c
	}
	return map[string]any{"space": w.space, "doc": w.doc, "asst": w.asst, "conv": conv, "user": w.ownerID,
		"event": fx.event, "export": fx.export, "auditJob": fx.auditJob, "from": fx.from, "to": fx.to, "org": w.a.id,
		"login": fx.login, "password": fx.password, "fresh": fresh(w, op), "freshLogin": "sweep-" + uuid.NewString()[:8]}
}

// fresh is a new user of A for an operation that names $fresh.
func fresh(w *world, op string) string {
	if !strings.Contains(op, "$fresh") {
		return ""
	}
	return w.freshUser(w.t, domain.OrgRoleUser)
}

// sweepMutations are the RBAC matrix's mutations and the deletions of a space and an
// assistant, each of a fresh one (the space with the caller in the role they have in S).
func sweepMutations() map[string]operation {
	ops := mutations()
	ops["deleteAssistant"] = operation{domain.CmdDeleteAssistant, true, `mutation($id: ID!) { deleteAssistant(id: $id) { id position } }`,
		func(t testing.TB, w *world, a actor) map[string]any {
			return map[string]any{"id": w.note(w.s.p.App.CreateAssistant.Handle(context.Background(), commands.CreateAssistant{
				Meta: w.meta(w.ownerID), SpaceID: w.space,
				Spec: domain.AssistantSpec{Name: "Doomed", Instructions: "Be brief.", Model: "test-model"}}))}
		}}
	ops["deleteSpace"] = operation{domain.CmdDeleteSpace, true, `mutation($id: ID!) { deleteSpace(id: $id) { id position } }`,
		func(t testing.TB, w *world, a actor) map[string]any {
			ctx := context.Background()
			sp := w.note(w.s.p.App.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: w.meta(w.ownerID), Name: "Doomed",
				Classification: "INTERNAL"}))
			if !a.anon && !a.foreign && !a.assistant && a.space != domain.SpaceRoleNone {
				w.note(w.s.p.App.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: w.meta(w.ownerID),
					SpaceID: sp, UserID: a.id, Role: a.space}))
			}
			w.s.wait(t, strconv.FormatUint(w.last, 10))
			return map[string]any{"id": sp}
		}}
	return ops
}

// classify turns a response into an outcome: the first error's code, hidden for an empty
// answer, ok otherwise.
func classify(r response, field string) string {
	if c := r.code(); c != "" {
		return c
	}
	if len(r.Errors) > 0 {
		return "error without a code"
	}
	if nothing(r.Data[field]) {
		return hidden
	}
	return ok
}

// nothing reports whether a value shows nothing: null, a list of nothing, an empty
// connection.
func nothing(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		for _, e := range v {
			if !nothing(e) {
				return false
			}
		}
		return true
	case map[string]any:
		if edges, ok := v["edges"]; ok {
			return nothing(edges)
		}
	}
	return false
}

// subscribeOutcome starts a subscription over graphql-transport-ws and classifies what
// follows: an error message's code, a close, or ok when it is accepted (no error within a
// second).
func subscribeOutcome(t *testing.T, s *stack, key, query string, vars map[string]any) string {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial(strings.Replace(s.url, "http://", "ws://", 1), http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := map[string]any{"type": "connection_init"}
	if key != "" {
		init["payload"] = map[string]any{"Authorization": "Bearer " + key}
	}
	_ = c.WriteJSON(init)
	_ = c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		var m struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := c.ReadJSON(&m); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code == 4403 {
					return unauth
				}
				return "closed " + ce.Text
			}
			return ok // still open, no error: the subscription runs
		}
		switch m.Type {
		case "error":
			var errs []gqlError
			if json.Unmarshal(m.Payload, &errs) == nil && len(errs) > 0 {
				if code, _ := errs[0].Extensions["code"].(string); code != "" {
					return code
				}
			}
			return "error without a code"
		case "next":
			// A subscription refused by its resolver ends with one result carrying the error.
			var res response
			if json.Unmarshal(m.Payload, &res) == nil && len(res.Errors) > 0 {
				if c := res.code(); c != "" {
					return c
				}
				return "error without a code"
			}
			return ok
		}
	}
}
