package keyring

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

func TestOpenFieldMatchesDecode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	user, conv, space := domain.UserSubject(newID()), domain.ConversationSubject(newID()), domain.SpaceSubject(newID())
	ev := sampleEvent(user, conv, space)
	for name, c := range map[string]*EventCodec{"encrypting": NewCodec(f.kr), "plain": NewPlainCodec()} {
		data, err := c.Encode(ctx, "ev-open", ev)
		if err != nil {
			t.Fatal(err)
		}
		var wire struct {
			Message struct {
				Text        string `json:"text"`
				Attachments []struct {
					Name string `json:"name"`
				} `json:"attachments"`
			} `json:"message"`
		}
		if err := json.Unmarshal(data, &wire); err != nil {
			t.Fatal(err)
		}
		got, red, err := c.OpenField(ctx, "ev-open", "message.text", wire.Message.Text)
		if err != nil || red || got != "hello from the user" {
			t.Fatalf("%s: OpenField = %q, %v, %v", name, got, red, err)
		}
		got, _, err = c.OpenField(ctx, "ev-open", "message.attachments.1.name", wire.Message.Attachments[1].Name)
		if err != nil || got != "plan.pdf" {
			t.Fatalf("%s: nested OpenField = %q, %v", name, got, err)
		}
		if got, red, err := c.OpenField(ctx, "ev-open", "message.text", ""); err != nil || red || got != "" {
			t.Fatalf("%s: empty envelope = %q, %v, %v", name, got, red, err)
		}
		if name == "plain" {
			continue
		}
		// The envelope is bound to its event id and path.
		if _, _, err := c.OpenField(ctx, "ev-other", "message.text", wire.Message.Text); err == nil {
			t.Fatalf("an envelope opened under another event id")
		}
		if _, _, err := c.OpenField(ctx, "ev-open", "message.title", wire.Message.Text); err == nil {
			t.Fatalf("an envelope opened under another path")
		}
		// Erasing a subject redacts; restoring brings the text back.
		if err := f.kr.StartShredding(ctx, user, "", "", time.Hour); err != nil {
			t.Fatal(err)
		}
		got, red, err = c.OpenField(ctx, "ev-open", "message.text", wire.Message.Text)
		if err != nil || !red || got != "" {
			t.Fatalf("after shredding: %q, %v, %v", got, red, err)
		}
		since, destroyed, err := c.FieldShredding(ctx, wire.Message.Text)
		if err != nil || since.IsZero() || destroyed {
			t.Fatalf("FieldShredding while shredding = %v, %v, %v", since, destroyed, err)
		}
		if err := f.kr.Restore(ctx, user); err != nil {
			t.Fatal(err)
		}
		if since, destroyed, err := c.FieldShredding(ctx, wire.Message.Text); err != nil || !since.IsZero() || destroyed {
			t.Fatalf("FieldShredding after restore = %v, %v, %v", since, destroyed, err)
		}
		if err := f.kr.StartShredding(ctx, space, "", "", 0); err != nil {
			t.Fatal(err)
		}
		if _, destroyed, err := c.FieldShredding(ctx, wire.Message.Attachments[1].Name); err != nil || !destroyed {
			t.Fatalf("FieldShredding after destruction = %v, %v", destroyed, err)
		}
		got, red, err = c.OpenField(ctx, "ev-open", "message.text", wire.Message.Text)
		if err != nil || red || got != "hello from the user" {
			t.Fatalf("after restore: %q, %v, %v", got, red, err)
		}
	}
}
