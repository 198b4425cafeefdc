package portability

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestRecordAppendJSONMatchesEncodingJSON: the export's fast record encoding writes what
// encoding/json writes for the same Record (byte for byte, but for encoding/json's escaping
// of <, > and & inside data, which reads back the same).
func TestRecordAppendJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 3, 9, 0, 0, 123, time.UTC)
	for _, r := range []Record{
		{EventID: "e1", Type: "conversation.message_sent.v1", Stream: "conversation-c", Revision: 3, Position: 99, At: at,
			Actor: "u", Space: "s", DataSHA256: "ab", Data: json.RawMessage(`{"text":"hej \"du\" <b>","n":1.5}`)},
		{EventID: "e2", Type: "user.registered.v1", Stream: "user-u", At: at, Actor: "system", DataSHA256: "cd",
			Data: json.RawMessage(`{"name":null}`), Redacted: []string{"name", "email"}},
		{EventID: "e3", Type: "x", At: at, Data: nil},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("appendJSON wrote invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) || (r.EventID != "e1" && string(got) != string(want)) {
			t.Errorf("appendJSON\n %s\nencoding/json\n %s", got, want)
		}
	}
}

// TestCertificatesHaveTheirSection: the erasure lifecycle's certificate events go to
// erasure_certificates.jsonl, and no other erasure event does.
func TestCertificatesHaveTheirSection(t *testing.T) {
	if got := SectionOf(domain.ErasureCertified{}.EventName()); got != FileCertificates {
		t.Errorf("%s goes to %q", domain.ErasureCertified{}.EventName(), got)
	}
	if got := SectionOf(domain.ErasureRequested{}.EventName()); got == FileCertificates {
		t.Errorf("%s goes to the certificates", domain.ErasureRequested{}.EventName())
	}
}
