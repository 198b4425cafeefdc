package keyring

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestOpenPayloadOpensEverySealedField: the generic opening of a payload gives the plaintext
// of every sealed field at its path (nested, in slices, maps and arrays), null and the path
// in redacted once a subject is erased, and refuses a tampered envelope.
func TestOpenPayloadOpensEverySealedField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	user, conv, space := domain.UserSubject(newID()), domain.ConversationSubject(newID()), domain.SpaceSubject(newID())
	c := NewCodec(f.kr)
	data, err := c.Encode(ctx, "ev-payload", sampleEvent(user, conv, space))
	if err != nil {
		t.Fatal(err)
	}
	open := func() (map[string]any, []string) {
		t.Helper()
		raw, red, err := c.OpenPayload(ctx, "ev-payload", data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), EncryptedPrefix) {
			t.Fatalf("an envelope is left: %s", raw)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m, red
	}
	m, red := open()
	msg := m["message"].(map[string]any)
	if msg["text"] != "hello from the user" || msg["title"] != "the title" || m["count"] != float64(3) ||
		msg["attachments"].([]any)[1].(map[string]any)["name"] != "plan.pdf" ||
		msg["labels"].(map[string]any)["topic"] != "health" || msg["pair"].([]any)[1] != "right" || len(red) != 0 {
		t.Fatalf("opened %v, redacted %v", m, red)
	}
	if err := f.kr.StartShredding(ctx, user, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	m, red = open()
	msg = m["message"].(map[string]any)
	want := []string{"message.attachments.0.name", "message.labels.topic", "message.text"}
	if !reflect.DeepEqual(red, want) || msg["text"] != nil || msg["title"] != "the title" {
		t.Fatalf("after erasing the user: %v, redacted %v", m, red)
	}
	// Bound to the event id: the same payload under another id does not open.
	if _, _, err := c.OpenPayload(ctx, "ev-other", data); err == nil {
		t.Fatal("a payload opened under another event id")
	}
}
