package readmodels

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestEncodeStreamRecord encodes one record in each format: the OCSF event and the JSONL line
// carry the leaf, CEF escapes its header and extension values, and nothing but the skeleton
// and the given detail appears.
func TestEncodeStreamRecord(t *testing.T) {
	rec := &StreamRecord{AuditEntry: AuditEntry{EventID: "0b0f0000-0000-4000-8000-000000000001", Position: 7,
		OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Action: "space.member_role_changed.v1", Outcome: AuditDenied,
		ActorID: "a1", TargetType: "space", TargetID: "s1", Subject: "user:u1", ReasonCode: "role", OrganizationID: "o1",
		Detail: map[string]string{"note": "a=b|c\nd"}}, Prepare: 7, LeafIndex: 41, LeafHash: make([]byte, 32)}
	b, err := EncodeStreamRecord(domain.AuditFormatOCSF, rec)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ClassUID int `json:"class_uid"`
		TypeUID  int `json:"type_uid"`
		StatusID int `json:"status_id"`
		User     struct {
			UID string `json:"uid"`
		} `json:"user"`
		Unmapped struct {
			Index *uint64 `json:"ledger_leaf_index"`
			Hash  string  `json:"ledger_leaf_hash"`
		} `json:"unmapped"`
	}
	if err := json.Unmarshal(b, &ev); err != nil || ev.ClassUID != OCSFUserAccessManagement || ev.TypeUID != 300501 ||
		ev.StatusID != 2 || ev.User.UID != "u1" || ev.Unmapped.Index == nil || *ev.Unmapped.Index != 41 || len(ev.Unmapped.Hash) != 44 {
		t.Fatalf("OCSF %s (%v)", b, err)
	}
	b, err = EncodeStreamRecord(domain.AuditFormatJSONL, rec)
	if err != nil || !strings.Contains(string(b), `"ledgerLeafIndex":41`) || !strings.Contains(string(b), `"eventId":"0b0f0000-0000-4000-8000-000000000001"`) {
		t.Fatalf("JSONL %s (%v)", b, err)
	}
	b, err = EncodeStreamRecord(domain.AuditFormatCEF, rec)
	if err != nil {
		t.Fatal(err)
	}
	cef := string(b)
	if !strings.HasPrefix(cef, "CEF:0|Arkiv|Arkiv|1|space.member_role_changed.v1|Assign Privileges|6|rt=1772366400000 act=space.member_role_changed.v1 outcome=denied suser=a1 duid=u1 externalId=0b0f0000-0000-4000-8000-000000000001 ") {
		t.Fatalf("CEF header and first extensions: %s", cef)
	}
	if !strings.Contains(cef, ` cn1Label=ledgerLeafIndex cn1=41 `) || !strings.Contains(cef, `msg={"note":"a\=b|c\\nd"}`) ||
		strings.ContainsAny(cef, "\n\r") {
		t.Fatalf("CEF extensions not escaped: %s", cef)
	}
	if _, err := EncodeStreamRecord("XML", rec); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("unknown format: %v", err)
	}
}
