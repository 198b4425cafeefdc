package graphql_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/keyring"
)

// holdRefused checks that r is the typed legal-hold refusal.
func holdRefused(t *testing.T, what string, r response) {
	t.Helper()
	if r.code() != "CONFLICT" || r.Errors[0].Extensions["reason"] != "LEGAL_HOLD" {
		t.Fatalf("%s under legal hold: %+v", what, r.Errors)
	}
}

// TestLegalHoldsRefuseErasure: an Admin places a hold on a document and on a space; while
// they last every delete or erasure of the held subject (or of what is in the held space) is
// refused with CONFLICT and reason LEGAL_HOLD, and recorded as a denial; only Admins of the
// organisation place, list and lift holds (another organisation's Admin is refused); a hold
// placed on a deleted conversation during its grace window shows in deletedItems and keeps
// the erasure from completing after the window, until it is lifted; the certificate and the
// holds are in the evidence bundle.
func TestLegalHoldsRefuseErasure(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true})
	w := newDelWorld(t, s)
	ctx := context.Background()
	place := func(key, kind, id string) response {
		return s.do(t, key, mPlaceHold, map[string]any{"in": map[string]any{"subjectType": kind, "subjectId": id,
			"reason": "Arkivlagen (1990:782) 3 §, dnr KS 2026/41"}})
	}
	if r := place(w.owner, "DOCUMENT", w.doc); r.code() != "FORBIDDEN" {
		t.Fatalf("placeLegalHold by a space Admin who is no organisation Admin: %+v", r.Errors)
	}
	if r := place(w.other.adminKey, "DOCUMENT", w.doc); r.code() != "FORBIDDEN" {
		t.Fatalf("placeLegalHold by another organisation's Admin: %+v", r.Errors)
	}
	r := place(w.o.adminKey, "DOCUMENT", w.doc)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	docHold := r.Data["placeLegalHold"].(map[string]any)["id"].(string)
	s.wait(t, r.Data["placeLegalHold"].(map[string]any)["position"].(string))
	if r := place(w.o.adminKey, "DOCUMENT", w.doc); r.code() != "CONFLICT" {
		t.Fatalf("a second hold on the same document: %+v", r.Errors)
	}

	holdRefused(t, "deleteDocument", s.do(t, w.owner, mDeleteDoc, map[string]any{"id": w.doc}))
	holdRefused(t, "requestErasure", s.do(t, w.o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"subjectType": "DOCUMENT", "subjectId": w.doc}}))
	held := s.ok(t, w.owner, `query($d: ID!) { document(id: $d) { id legalHold { id reason } } }`, map[string]any{"d": w.doc})["document"]
	if held == nil || held.(map[string]any)["legalHold"] == nil || held.(map[string]any)["legalHold"].(map[string]any)["id"] != docHold {
		t.Fatalf("the held document's data does not show the hold: %v", held)
	}

	holds := s.ok(t, w.o.adminKey, `{ legalHolds { id subjectType subjectId spaceId reason placedBy } }`, nil)["legalHolds"].([]any)
	if len(holds) != 1 || holds[0].(map[string]any)["id"] != docHold || holds[0].(map[string]any)["spaceId"] != w.space ||
		holds[0].(map[string]any)["placedBy"] != w.o.adminID {
		t.Fatalf("legalHolds = %v", holds)
	}
	if theirs := s.ok(t, w.other.adminKey, `{ legalHolds { id } }`, nil)["legalHolds"].([]any); len(theirs) != 0 {
		t.Fatalf("another organisation's Admin lists %v", theirs)
	}
	if r := s.do(t, w.other.adminKey, mLiftHold, map[string]any{"in": map[string]any{"holdId": docHold, "reason": "mine now"}}); r.code() != "NOT_FOUND" {
		t.Fatalf("liftLegalHold by another organisation's Admin: %+v", r.Errors)
	}

	// A hold on the space covers what is in it and the space itself.
	r = place(w.o.adminKey, "SPACE", w.space)
	spaceHold := r.Data["placeLegalHold"].(map[string]any)["id"].(string)
	s.wait(t, r.Data["placeLegalHold"].(map[string]any)["position"].(string))
	holdRefused(t, "deleteAssistant in a held space", s.do(t, w.owner, mDeleteAsst, map[string]any{"id": w.asst}))
	holdRefused(t, "deleteConversation in a held space", s.do(t, w.viewer, mDeleteConv, map[string]any{"id": w.conv}))
	holdRefused(t, "deleteSpace", s.do(t, w.owner, mDeleteSpace, map[string]any{"id": w.space}))
	s.mutate(t, w.o.adminKey, mLiftHold, map[string]any{"in": map[string]any{"holdId": spaceHold, "reason": "Case closed."}})

	var denials int
	if err := s.p.Pool.QueryRow(ctx, `SELECT count(*) FROM access_denied WHERE organization_id = $1 AND reason = $2`,
		w.o.id, domain.ReasonLegalHold).Scan(&denials); err != nil {
		t.Fatal(err)
	}
	if denials != 5 {
		t.Fatalf("%d legal-hold denials in the access log, want 5", denials)
	}

	// A hold placed during the grace window: listed with the item, and the erasure waits.
	eConv := w.del(t, w.viewer, mDeleteConv, w.conv, "CONVERSATION")
	r = place(w.o.adminKey, "CONVERSATION", w.conv)
	convHold := r.Data["placeLegalHold"].(map[string]any)["id"].(string)
	s.wait(t, r.Data["placeLegalHold"].(map[string]any)["position"].(string))
	s.waitManagers(t, r.Data["placeLegalHold"].(map[string]any)["position"].(string))
	items, _ := w.deletedItems(t, w.owner, w.space)
	if it := items[eConv]; it == nil || it["legalHold"] == nil || it["legalHold"].(map[string]any)["id"] != convHold {
		t.Fatalf("deletedItems does not show the hold: %v", items)
	}
	s.clock.Advance(15 * 24 * time.Hour)
	time.Sleep(time.Second) // five erasure rounds
	if _, err := s.p.Managers.CompleteDueErasures(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := s.p.Keyring.State(ctx, domain.ConversationSubject(w.conv)); err != nil || st.Status != keyring.StatusShredding {
		t.Fatalf("the held conversation's key is %v (%v), want shredding", st.Status, err)
	}
	if items, _ := w.deletedItems(t, w.owner, w.space); items[eConv] == nil {
		t.Fatal("the held erasure is no longer pending")
	}
	s.mutate(t, w.o.adminKey, mLiftHold, map[string]any{"in": map[string]any{"holdId": convHold, "reason": "Archived to the e-archive."}})
	s.waitFor(t, func() bool {
		return s.ok(t, w.o.adminKey, qCertificate, map[string]any{"id": eConv})["erasureCertificate"] != nil
	})
	if st, err := s.p.Keyring.State(ctx, domain.ConversationSubject(w.conv)); err != nil || st.Status != keyring.StatusDestroyed {
		t.Fatalf("the conversation's key after the lift is %v (%v)", st.Status, err)
	}

	// The evidence bundle holds the certificate and the holds.
	now := s.clock.Now()
	ex := s.ok(t, w.o.adminKey, `mutation($from: Time!, $to: Time!) { exportEvidence(from: $from, to: $to) { id status } }`,
		map[string]any{"from": now.AddDate(0, 0, -30).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)})
	id := ex["exportEvidence"].(map[string]any)["id"].(string)
	var job map[string]any
	s.waitFor(t, func() bool {
		job = s.ok(t, w.o.adminKey, `query($id: ID!) { evidenceExport(id: $id) { status bundle error } }`, map[string]any{"id": id})["evidenceExport"].(map[string]any)
		return job["status"] != "RUNNING"
	})
	if job["status"] != "DONE" {
		t.Fatalf("evidence export: %v", job)
	}
	raw, err := base64.StdEncoding.DecodeString(job["bundle"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(bytes.NewReader(raw), int64(len(raw)), w.keys); err != nil {
		t.Fatalf("the bundle does not verify: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Certificates []struct {
			ErasureID   string `json:"erasureId"`
			Certificate string `json:"certificate"`
		} `json:"certificates"`
		HoldChanges []evidence.Change  `json:"legalHoldChanges"`
		Active      []domain.LegalHold `json:"legalHoldsActiveAtEnd"`
	}
	for _, f := range zr.File {
		if f.Name != evidence.FileErasures {
			continue
		}
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
	}
	if len(doc.Certificates) != 1 || doc.Certificates[0].ErasureID != eConv {
		t.Fatalf("certificates in the bundle: %+v", doc.Certificates)
	}
	if _, err := evidence.VerifyCertificate([]byte(doc.Certificates[0].Certificate), w.keys); err != nil {
		t.Fatalf("the bundle's certificate does not verify: %v", err)
	}
	if len(doc.Active) != 1 || doc.Active[0].ID != docHold || len(doc.HoldChanges) != 5 {
		t.Fatalf("holds in the bundle: active %+v, %d changes", doc.Active, len(doc.HoldChanges))
	}
}
