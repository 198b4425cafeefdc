package graphql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// TestAuditIntegrityAndProof: an Admin reads the log's signed state and an inclusion proof
// that verifies offline with only the public key the API gave; an edited proof fails; a
// User is refused; every read is audited.
func TestAuditIntegrityAndProof(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true})
	o := s.newOrg(t, testSettings())
	_, ukey := s.user(t, o, "USER")
	const qIntegrity = `{ auditIntegrity { publicKey unanchoredTail checkpoint { note treeSize rootHash signedAt } lastVerification { ok verifiedLeaves failure } } }`

	// Wait until a checkpoint covers the organisation's events and a verification ran.
	var integ map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		integ = s.ok(t, o.adminKey, qIntegrity, nil)["auditIntegrity"].(map[string]any)
		cp, _ := integ["checkpoint"].(map[string]any)
		v, _ := integ["lastVerification"].(map[string]any)
		if cp != nil && cp["treeSize"].(float64) >= 5 && v != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint and verification within 30 s: %v", integ)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pub := integ["publicKey"].(string)
	if !strings.HasPrefix(pub, "arkiv.test/ledger+") {
		t.Fatalf("publicKey %q", pub)
	}
	if v := integ["lastVerification"].(map[string]any); v["ok"] != true || v["failure"] != nil {
		t.Fatalf("verification of a clean log failed: %v", v)
	}
	verifier, err := note.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	cp := integ["checkpoint"].(map[string]any)
	if _, err := note.Open([]byte(cp["note"].(string)), note.VerifierList(verifier)); err != nil {
		t.Fatalf("the checkpoint note does not verify with the public key: %v", err)
	}

	// Prove the organisation's creation event.
	recs, _, err := s.p.Store.Load(context.Background(), domain.StreamPrefixOrganization+o.id)
	if err != nil || len(recs) == 0 {
		t.Fatalf("organisation stream: %d, %v", len(recs), err)
	}
	proofText := s.ok(t, o.adminKey, `query($id: ID!) { auditProof(eventId: $id) }`, map[string]any{"id": recs[0].EventID})["auditProof"].(string)
	proof, err := ledger.ParseProof([]byte(proofText))
	if err != nil {
		t.Fatalf("parse proof: %v\n%s", err, proofText)
	}
	if _, err := ledger.VerifyProof(proof, note.VerifierList(verifier)); err != nil {
		t.Fatalf("the proof does not verify offline: %v", err)
	}
	// Tampering: a proof for another index must not verify.
	tampered := proof
	tampered.Index++
	if _, err := ledger.VerifyProof(tampered, note.VerifierList(verifier)); err == nil {
		t.Fatal("a proof edited to another leaf index verified")
	}

	// An audit export's footer names the signed checkpoint that covers it, once one does.
	var cpNote string
	deadline = time.Now().Add(30 * time.Second)
	for cpNote == "" {
		exp := s.ok(t, o.adminKey, `mutation { exportAuditLog(format: JSONL, justification: "Export for the external auditor, case 17.") { rows lastPosition checkpoint } }`, nil)["exportAuditLog"].(map[string]any)
		if c, _ := exp["checkpoint"].(string); c != "" {
			cpNote = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no export footer names a checkpoint within 30 s: %v", exp)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := note.Open([]byte(cpNote), note.VerifierList(verifier)); err != nil {
		t.Fatalf("the export's checkpoint does not verify: %v\n%s", err, cpNote)
	}

	if r := s.do(t, ukey, qIntegrity, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("auditIntegrity as a User: %+v", r.Errors)
	}
	if r := s.do(t, o.adminKey, `query { auditProof(eventId: "not-a-uuid") }`, nil); r.code() != "INVALID" {
		t.Fatalf("auditProof with a bad id: %+v", r.Errors)
	}

	acc, _, err := s.p.Store.Load(context.Background(), domain.AccessStream(o.id))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range acc {
		if r.Type == (domain.AuditIntegrityViewed{}).EventName() {
			switch {
			case strings.Contains(string(r.Data), `"what":"integrity"`):
				seen["integrity"] = true
			case strings.Contains(string(r.Data), recs[0].EventID):
				seen["proof"] = true
			}
		}
	}
	if !seen["integrity"] || !seen["proof"] {
		t.Fatalf("audited reads: %v", seen)
	}
}
