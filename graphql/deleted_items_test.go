package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/weaviatetest"
)

const (
	delCanary      = "Fjällräv-canary-5b2e"
	qDeletedItems  = `query($s: ID) { deletedItems(spaceId: $s) { erasureId subjectType subjectId spaceId origin legalBasis requestedBy requestedAt restorableUntil legalHold { id reason } } }`
	mDeleteDoc     = `mutation($id: ID!) { deleteDocument(id: $id) { id position } }`
	mDeleteConv    = `mutation($id: ID!) { deleteConversation(id: $id) { id position } }`
	mDeleteAsst    = `mutation($id: ID!) { deleteAssistant(id: $id) { id position } }`
	mDeleteSpace   = `mutation($id: ID!) { deleteSpace(id: $id) { id position } }`
	mRestoreItem   = `mutation($id: ID!) { restoreDeletedItem(id: $id) { id position } }`
	mRestoreErase  = `mutation($id: ID!) { restoreErasure(id: $id) { id position } }`
	mPlaceHold     = `mutation($in: PlaceLegalHoldInput!) { placeLegalHold(input: $in) { id position } }`
	mLiftHold      = `mutation($in: LiftLegalHoldInput!) { liftLegalHold(input: $in) { id position } }`
	qCertificate   = `query($id: ID!) { erasureCertificate(id: $id) { erasureId subjectType subjectId signed certifiedAt certificate } }`
	mDeactivateErz = `mutation($in: DeactivateUserInput!) { deactivateUser(input: $in) { id position } }`
)

// delWorld is an organisation with a space whose Admin is a Creator (not an organisation
// Admin), a Viewer of the space who owns a conversation, an assistant and a document
// holding a canary, and a second organisation whose Admin tries to cross over.
type delWorld struct {
	s                    *stack
	o, other             org
	owner, viewer        string // API keys
	ownerID, viewerID    string
	space, asst, doc     string
	conv                 string
	wvURL, wvClass       string
	keys                 note.Verifiers
	deleted, erasureKind map[string]string // erasure id → subject id, kind
}

func newDelWorld(t *testing.T, s *stack) *delWorld {
	w := &delWorld{s: s, o: s.newOrg(t, testSettings()), other: s.newOrg(t, testSettings()),
		wvURL: weaviatetest.URL(t), wvClass: s.p.Index.Class(), deleted: map[string]string{}, erasureKind: map[string]string{}}
	w.ownerID, w.owner = s.user(t, w.o, "CREATOR")
	w.viewerID, w.viewer = s.user(t, w.o, "USER")
	w.space = s.space(t, w.owner)
	s.addMember(t, w.owner, w.space, w.viewerID, "VIEWER")
	s.mutate(t, w.owner, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": w.space, "modelIds": []any{"test-model"}}})
	w.doc = s.mutate(t, w.owner, mIngest, map[string]any{"in": map[string]any{"spaceId": w.space, "title": "Protokoll",
		"content": "Nämndens protokoll: " + delCanary + " beviljas bistånd enligt 4 kap. socialtjänstlagen."}})
	w.asst = s.mutate(t, w.owner, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": w.space, "name": "Handläggare", "instructions": "Svara kort.", "modelId": "test-model"}})
	w.conv = s.mutate(t, w.viewer, mStartConv, map[string]any{"in": map[string]any{"assistantId": w.asst}})
	sent := s.ok(t, w.viewer, mSend, map[string]any{"in": map[string]any{"conversationId": w.conv, "text": "Vad gäller för " + delCanary + "?"}})
	s.wait(t, sent["sendMessage"].(map[string]any)["position"].(string))
	if s.signing != nil {
		w.keys = note.VerifierList(s.signing.Verifier())
	}
	return w
}

// del runs a delete as key and returns the erasure's id, waiting for the read models.
func (w *delWorld) del(t *testing.T, key, mutation, id, kind string) string {
	t.Helper()
	e := w.s.mutate(t, key, mutation, map[string]any{"id": id})
	w.deleted[e], w.erasureKind[e] = id, kind
	return e
}

// restore restores an erasure as key and waits for the read models and managers.
func (w *delWorld) restore(t *testing.T, key, mutation, erasure string) {
	t.Helper()
	r := w.s.ok(t, key, mutation, map[string]any{"id": erasure})
	for _, v := range r {
		pos := v.(map[string]any)["position"].(string)
		w.s.wait(t, pos)
		w.s.waitManagers(t, pos)
	}
}

// visible reports what the space's owner and viewer see of each subject.
func (w *delWorld) docVisible(t *testing.T) bool {
	r := w.s.ok(t, w.owner, `query($d: ID!) { document(id: $d) { id content } }`, map[string]any{"d": w.doc})
	return r["document"] != nil
}

func (w *delWorld) convVisible(t *testing.T) bool {
	return w.s.ok(t, w.viewer, `query($c: ID!) { conversation(id: $c) { id } }`, map[string]any{"c": w.conv})["conversation"] != nil
}

func (w *delWorld) asstVisible(t *testing.T) bool {
	r := w.s.ok(t, w.owner, `query($s: ID!) { assistants(spaceId: $s) { edges { node { id } } } }`, map[string]any{"s": w.space})
	return len(r["assistants"].(map[string]any)["edges"].([]any)) > 0
}

func (w *delWorld) spaceVisible(t *testing.T) bool {
	return w.s.ok(t, w.owner, `query($s: ID!) { space(id: $s) { id } }`, map[string]any{"s": w.space})["space"] != nil
}

func (w *delWorld) userVisible(t *testing.T) bool {
	r := w.s.ok(t, w.owner, `query($s: ID!) { space(id: $s) { members { id user { id name } } } }`, map[string]any{"s": w.space})
	if r["space"] == nil {
		return false
	}
	for _, m := range r["space"].(map[string]any)["members"].([]any) {
		u, _ := m.(map[string]any)["user"].(map[string]any)
		if u != nil && u["id"] == w.viewerID && u["name"] != nil {
			return true
		}
	}
	return false
}

// pgRows counts the rows of the read-model tables that hold the id.
func (w *delWorld) pgRows(t *testing.T, table, col, id string) int {
	t.Helper()
	var n int
	if err := w.s.p.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// weaviateCanary counts the Weaviate objects of the stack's class, in every tenant, whose
// properties hold the canary.
func (w *delWorld) weaviateCanary(t *testing.T) int {
	t.Helper()
	var tenants []struct {
		Name string `json:"name"`
	}
	getJSON(t, w.wvURL+"/v1/schema/"+w.wvClass+"/tenants", &tenants)
	n := 0
	for _, tn := range tenants {
		var res struct {
			Objects []struct {
				Properties map[string]any `json:"properties"`
			} `json:"objects"`
		}
		getJSON(t, w.wvURL+"/v1/objects?class="+w.wvClass+"&tenant="+tn.Name+"&limit=10000", &res)
		for _, o := range res.Objects {
			b, _ := json.Marshal(o.Properties)
			if bytes.Contains(b, []byte(delCanary)) {
				n++
			}
		}
	}
	return n
}

// pgCanary reports the tables of the read-model database whose rows hold the canary as
// plain text: there must never be one (sealed fields stay ciphertext).
func (w *delWorld) pgCanary(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := w.s.p.Pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var out []string
	for _, tb := range tables {
		var n int
		if err := w.s.p.Pool.QueryRow(ctx, `SELECT count(*) FROM "`+tb+`" t WHERE t::text LIKE '%' || $1 || '%'`, delCanary).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, tb)
		}
	}
	return out
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v: %s", url, err, b)
	}
}

// deletedItems lists deleted items as key (spaceID "" for the organisation).
func (w *delWorld) deletedItems(t *testing.T, key, spaceID string) (map[string]map[string]any, response) {
	t.Helper()
	vars := map[string]any{"s": nil}
	if spaceID != "" {
		vars["s"] = spaceID
	}
	r := w.s.do(t, key, qDeletedItems, vars)
	out := map[string]map[string]any{}
	if r.Data != nil && r.Data["deletedItems"] != nil {
		for _, it := range r.Data["deletedItems"].([]any) {
			m := it.(map[string]any)
			out[m["erasureId"].(string)] = m
		}
	}
	return out, r
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDeletesAreRestorableErasures: every delete — document, conversation (by its owner),
// assistant, space, a user deactivated with erasure — hides its subject from every query and
// from Weaviate at once, is listed in deletedItems with its restore deadline (per space for
// the space's Admin, organisation-wide for Admins, never for another organisation), comes
// back on restore inside the window, and once the window has passed (fake clock) is gone
// for good: keys destroyed, no restore, and a signed certificate that verifies offline and
// fails when tampered with.
func TestDeletesAreRestorableErasures(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true})
	w := newDelWorld(t, s)
	ctx := context.Background()

	if !w.docVisible(t) || !w.convVisible(t) || !w.asstVisible(t) || !w.spaceVisible(t) || !w.userVisible(t) {
		t.Fatal("the world is not all visible before any delete")
	}
	s.waitFor(t, func() bool { return w.weaviateCanary(t) > 0 })
	if tables := w.pgCanary(t); len(tables) > 0 {
		t.Fatalf("plaintext canary in Postgres tables %v", tables)
	}

	// Document: deleted by the space's Admin (a Creator), hidden at once everywhere.
	eDoc := w.del(t, w.owner, mDeleteDoc, w.doc, "DOCUMENT")
	if w.docVisible(t) {
		t.Fatal("deleted document still visible")
	}
	if n := w.pgRows(t, "documents", "document_id", w.doc) + w.pgRows(t, "document_chunks", "document_id", w.doc); n != 0 {
		t.Fatalf("%d read-model rows of the deleted document", n)
	}
	if n := w.weaviateCanary(t); n != 0 {
		t.Fatalf("%d Weaviate objects hold the deleted document's canary", n)
	}
	items, _ := w.deletedItems(t, w.owner, w.space)
	it := items[eDoc]
	if it == nil || it["subjectType"] != "DOCUMENT" || it["subjectId"] != w.doc || it["origin"] != "DeleteDocument" || it["requestedBy"] != w.ownerID {
		t.Fatalf("deletedItems of the space's Admin = %v", items)
	}
	until, _ := time.Parse(time.RFC3339, it["restorableUntil"].(string))
	if want := s.clock.Now().AddDate(0, 0, 14); until.Sub(want).Abs() > time.Minute {
		t.Fatalf("restorableUntil = %v, want the organisation's 14 days: %v", until, want)
	}
	if _, r := w.deletedItems(t, w.viewer, w.space); r.code() != "FORBIDDEN" {
		t.Fatalf("deletedItems as a Viewer: %+v", r.Errors)
	}
	if _, r := w.deletedItems(t, w.owner, ""); r.code() != "FORBIDDEN" {
		t.Fatalf("organisation-wide deletedItems as a space Admin: %+v", r.Errors)
	}
	if all, _ := w.deletedItems(t, w.o.adminKey, ""); all[eDoc] == nil {
		t.Fatalf("organisation-wide deletedItems of the Admin lacks the document: %v", all)
	}
	// Tenant crossing: another organisation's Admin sees nothing and restores nothing.
	if theirs, r := w.deletedItems(t, w.other.adminKey, ""); len(theirs) != 0 || len(r.Errors) > 0 {
		t.Fatalf("another organisation's Admin lists %v (%+v)", theirs, r.Errors)
	}
	if r := s.do(t, w.other.adminKey, mRestoreErase, map[string]any{"id": eDoc}); r.code() != "FORBIDDEN" {
		t.Fatalf("restoreErasure by another organisation's Admin: %+v", r.Errors)
	}
	if r := s.do(t, w.viewer, mRestoreItem, map[string]any{"id": eDoc}); r.code() != "FORBIDDEN" {
		t.Fatalf("restoreDeletedItem by a Viewer: %+v", r.Errors)
	}
	w.restore(t, w.owner, mRestoreItem, eDoc)
	s.waitFor(t, func() bool { return w.docVisible(t) })
	s.waitFor(t, func() bool { return w.weaviateCanary(t) > 0 })

	// Conversation: deleted by its owner, a Viewer; restored by the space's Admin.
	eConv := w.del(t, w.viewer, mDeleteConv, w.conv, "CONVERSATION")
	if w.convVisible(t) {
		t.Fatal("deleted conversation still visible")
	}
	if n := w.pgRows(t, "messages", "conversation_id", w.conv); n != 0 {
		t.Fatalf("%d messages of the deleted conversation", n)
	}
	w.restore(t, w.owner, mRestoreItem, eConv)
	s.waitFor(t, func() bool { return w.convVisible(t) })

	// Assistant and space, by the space's Admin; the space restored by an organisation Admin.
	eAsst := w.del(t, w.owner, mDeleteAsst, w.asst, "ASSISTANT")
	if w.asstVisible(t) {
		t.Fatal("deleted assistant still listed")
	}
	w.restore(t, w.owner, mRestoreItem, eAsst)
	s.waitFor(t, func() bool { return w.asstVisible(t) })
	eSpace := w.del(t, w.owner, mDeleteSpace, w.space, "SPACE")
	if w.spaceVisible(t) {
		t.Fatal("deleted space still visible")
	}
	if exists, err := s.p.Index.TenantExists(ctx, w.space); err != nil || exists {
		t.Fatalf("the deleted space's Weaviate tenant exists: %v, %v", exists, err)
	}
	if n := w.weaviateCanary(t); n != 0 {
		t.Fatalf("%d Weaviate objects hold the canary after the space's delete", n)
	}
	w.restore(t, w.o.adminKey, mRestoreErase, eSpace)
	s.waitFor(t, func() bool { return w.spaceVisible(t) && w.docVisible(t) })
	s.waitFor(t, func() bool { return w.weaviateCanary(t) > 0 })

	// User: deactivated with erasure.
	r := s.ok(t, w.o.adminKey, mDeactivateErz, map[string]any{"in": map[string]any{"userId": w.viewerID, "erase": true, "legalBasis": "GDPR Art. 17(1)(a)"}})
	eUser := r["deactivateUser"].(map[string]any)["id"].(string)
	s.wait(t, r["deactivateUser"].(map[string]any)["position"].(string))
	w.deleted[eUser], w.erasureKind[eUser] = w.viewerID, "USER"
	if w.userVisible(t) {
		t.Fatal("erased user still has access listed")
	}
	all, _ := w.deletedItems(t, w.o.adminKey, "")
	if u := all[eUser]; u == nil || u["legalBasis"] != "GDPR Art. 17(1)(a)" || u["origin"] != "DeactivateUser" {
		t.Fatalf("the user's erasure in deletedItems: %v", u)
	}
	w.restore(t, w.o.adminKey, mRestoreErase, eUser)
	s.waitFor(t, func() bool { return w.userVisible(t) })

	// Now for good: delete each again and let the window pass.
	// The space first, so that its tenant still holds the document's objects.
	final := map[string]string{w.del(t, w.owner, mDeleteSpace, w.space, "SPACE"): "SPACE"}
	// The Viewer is deactivated now: the space's Admin deletes their conversation.
	final[w.del(t, w.owner, mDeleteConv, w.conv, "CONVERSATION")] = "CONVERSATION"
	final[w.del(t, w.owner, mDeleteDoc, w.doc, "DOCUMENT")] = "DOCUMENT"
	final[w.del(t, w.owner, mDeleteAsst, w.asst, "ASSISTANT")] = "ASSISTANT"
	r = s.ok(t, w.o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"subjectType": "USER", "subjectId": w.viewerID, "legalBasis": "GDPR Art. 17(1)(a)"}})
	final[r["requestErasure"].(map[string]any)["id"].(string)] = "USER"
	s.wait(t, r["requestErasure"].(map[string]any)["position"].(string))
	s.clock.Advance(15 * 24 * time.Hour)
	certified := func() bool {
		var n int
		_ = s.p.Pool.QueryRow(ctx, `SELECT count(*) FROM erasure_items WHERE erasure_id = ANY($1) AND certificate IS NOT NULL`,
			keys(final)).Scan(&n)
		return n == len(final)
	}
	deadline := time.Now().Add(40 * time.Second)
	for !certified() {
		if time.Now().After(deadline) {
			_, err := s.p.Managers.CertifyCompletedErasures(ctx)
			rows, _ := s.p.Pool.Query(ctx, `SELECT erasure_id || ' ' || subject_type || ' ' || state || ' ' || coalesce(certified_at::text, '-') FROM pm_erasures`)
			var st []string
			for rows.Next() {
				var x string
				_ = rows.Scan(&x)
				st = append(st, x)
			}
			rows.Close()
			t.Fatalf("not every erasure is certified: %v; certifying now: %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for e, kind := range final {
		s.waitFor(t, func() bool {
			c := s.ok(t, w.o.adminKey, qCertificate, map[string]any{"id": e})["erasureCertificate"]
			return c != nil
		})
		c := s.ok(t, w.o.adminKey, qCertificate, map[string]any{"id": e})["erasureCertificate"].(map[string]any)
		if c["subjectType"] != kind || c["signed"] != true {
			t.Fatalf("%s certificate = %v", kind, c)
		}
		text := []byte(c["certificate"].(string))
		cert, err := evidence.VerifyCertificate(text, w.keys)
		if err != nil {
			t.Fatalf("%s certificate does not verify: %v\n%s", kind, err, text)
		}
		if !cert.PostCheck.Passed || cert.RestorableUntil.Before(cert.RequestedAt) || cert.CompletedAt.Before(cert.RestorableUntil) {
			t.Fatalf("%s certificate: %+v", kind, cert)
		}
		if kind != "ASSISTANT" && (len(cert.KeysDestroyed) == 0 || cert.PostCheck.FieldsChecked == 0) {
			t.Fatalf("%s certificate names no destroyed key or checked field: %+v", kind, cert)
		}
		for _, k := range cert.KeysDestroyed {
			sub, err := domain.ParseSubject(k.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			if st, err := s.p.Keyring.State(ctx, sub); err != nil || st.Status != keyring.StatusDestroyed {
				t.Fatalf("key %s is %v (%v)", k.KeyID, st.Status, err)
			}
		}
		if kind == "SPACE" {
			var weaviate evidence.StorePurge
			for _, p := range cert.Purged {
				if p.Store == "weaviate" {
					weaviate = p
				}
			}
			if weaviate.Tenants != 1 || weaviate.Objects == 0 {
				t.Fatalf("the space's certificate says Weaviate purged %+v", weaviate)
			}
		}
		// Tampering: one changed character fails verification.
		bad := bytes.Replace(text, []byte(`"passed":true`), []byte(`"passed":fals`), 1)
		if _, err := evidence.VerifyCertificate(bad, w.keys); err == nil {
			t.Fatalf("a tampered %s certificate verifies", kind)
		}
		if rr := s.do(t, w.o.adminKey, mRestoreErase, map[string]any{"id": e}); rr.code() != "CONFLICT" {
			t.Fatalf("restore after the window (%s): %+v", kind, rr.Errors)
		}
		if rr := s.ok(t, w.other.adminKey, qCertificate, map[string]any{"id": e}); rr["erasureCertificate"] != nil {
			t.Fatalf("another organisation's Admin reads the %s certificate", kind)
		}
	}
	if w.docVisible(t) || w.spaceVisible(t) {
		t.Fatal("a destroyed subject is visible again")
	}
	if n := w.weaviateCanary(t); n != 0 {
		t.Fatalf("%d Weaviate objects hold the canary after destruction", n)
	}
	if tables := w.pgCanary(t); len(tables) > 0 {
		t.Fatalf("plaintext canary in Postgres tables %v", tables)
	}
	if left, _ := w.deletedItems(t, w.o.adminKey, ""); len(left) != 0 {
		t.Fatalf("deletedItems after completion: %v", left)
	}
}
