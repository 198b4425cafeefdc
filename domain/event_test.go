package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := RegisterEvents(r); err != nil {
		t.Fatal(err)
	}
	if len(r.Names()) != len(AllEvents()) {
		t.Fatalf("%d names for %d events: a name is used twice", len(r.Names()), len(AllEvents()))
	}
	for _, e := range AllEvents() {
		p, err := r.New(e.EventName())
		if err != nil {
			t.Fatal(err)
		}
		got, err := Deref(p)
		if err != nil || got.EventName() != e.EventName() {
			t.Fatalf("%s: New/Deref gave %T, %v", e.EventName(), got, err)
		}
		if SchemaVersion(e.EventName()) != 1 {
			t.Fatalf("%s: want schema version 1", e.EventName())
		}
	}
	if _, err := r.New("nope.v1"); !Is(KindInternal, err) {
		t.Fatalf("unknown name: %v", err)
	}
	if err := r.Register(badEvent{}); !Is(KindInvalid, err) {
		t.Fatalf("unversioned name accepted: %v", err)
	}
}

type badEvent struct{}

func (badEvent) EventName() string { return "bad" }

func TestSubjectsOf(t *testing.T) {
	e := ModelInvocationRecorded{RequestPayload: Seal("a", UserSubject(user1), ConversationSubject(conv1)),
		ResponsePayload: Seal("b", ConversationSubject(conv1))}
	got := SubjectsOf(e)
	if len(got) != 2 || got[0] != ConversationSubject(conv1) || got[1] != UserSubject(user1) {
		t.Fatalf("SubjectsOf = %v", got)
	}
}

func chainOf(t *testing.T, n int) []Recorded {
	t.Helper()
	var out []Recorded
	prev := ""
	for i := 0; i < n; i++ {
		m, _ := json.Marshal(Metadata{Actor: user1, Organization: org1, CommandID: "c", SchemaVersion: 1, PrevHash: prev})
		r := Recorded{Stream: "space-" + spc1, Revision: uint64(i), EventID: key1, Type: "space.created.v1",
			Data: []byte(`{"n":` + strings.Repeat("1", i+1) + `}`), Metadata: m}
		prev = HashOf(r)
		out = append(out, r)
	}
	return out
}

func TestVerifyChain(t *testing.T) {
	events := chainOf(t, 4)
	head, err := VerifyChain(events)
	if err != nil || head != HashOf(events[3]) {
		t.Fatalf("intact chain: head %q, %v", head, err)
	}
	tampered := chainOf(t, 4)
	tampered[1].Data = []byte(`{"n":2}`)
	if _, err := VerifyChain(tampered); !Is(KindConflict, err) || !strings.Contains(err.Error(), "revision 2") {
		t.Fatalf("tampered payload not detected at the next link: %v", err)
	}
	retyped := chainOf(t, 3)
	retyped[0].Type = "space.deleted.v1"
	if _, err := VerifyChain(retyped); !Is(KindConflict, err) {
		t.Fatalf("changed event type not detected: %v", err)
	}
	if _, err := VerifyChain(chainOf(t, 3)[1:]); !Is(KindConflict, err) {
		t.Fatalf("missing first event not detected: %v", err)
	}
}

func TestValues(t *testing.T) {
	if _, err := NewEmail("a@b"); err == nil {
		t.Error("address without a domain dot accepted")
	}
	if _, err := NewEmail("Anna <a@b.se>"); err == nil {
		t.Error("display-name form accepted")
	}
	if got, err := NewEmail("A@B.se"); err != nil || got != "a@b.se" {
		t.Errorf("NewEmail = %q, %v", got, err)
	}
	if _, err := NewName("space name", strings.Repeat("x", MaxNameRunes+1)); !Is(KindInvalid, err) {
		t.Error("over-long name accepted")
	}
	if _, err := NewName("space name", "a\x00b"); !Is(KindInvalid, err) {
		t.Error("control character accepted")
	}
	if _, err := NewModelID("Bad Model"); !Is(KindInvalid, err) {
		t.Error("bad model id accepted")
	}
	if err := DefaultOrganizationSettings().Validate(); err != nil {
		t.Errorf("default settings invalid: %v", err)
	}
	if err := settingsWithModels().Validate(); err != nil {
		t.Errorf("settings with models invalid: %v", err)
	}
	err := (AuditRetention{Mode: AuditRetentionCustom, Days: 3}).Validate()
	if !strings.Contains(PublicMessage(err), "custom audit retention") {
		t.Errorf("message not clear: %q", PublicMessage(err))
	}
}

func TestNameRefusesInvisibleFormatCharacters(t *testing.T) {
	for _, r := range []rune{0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069} {
		name := "Finance" + string(r) + "Team"
		if _, err := NewName("space name", name); !Is(KindInvalid, err) {
			t.Errorf("U+%04X accepted in a name: %v", r, err)
		}
	}
	// Ordinary scripts, accents and emoji stay welcome.
	for _, ok := range []string{"Åsa Öberg", "مساحة المالية", "財務チーム", "Team 🚀", "Zoë-Anne"} {
		if got, err := NewName("space name", ok); err != nil || got != ok {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}
