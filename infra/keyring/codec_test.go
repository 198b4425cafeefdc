package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

type testAttachment struct {
	Name domain.Sealed `json:"name"`
	Size int           `json:"size"`
}

type testMeta struct {
	Actor string `json:"actor"`
}

type testMessage struct {
	testMeta
	ID          string                   `json:"id"`
	Text        domain.Sealed            `json:"text"`
	Title       *domain.Sealed           `json:"title,omitempty"`
	Missing     *domain.Sealed           `json:"missing,omitempty"`
	Empty       domain.Sealed            `json:"empty,omitempty"`
	Attachments []testAttachment         `json:"attachments"`
	Labels      map[string]domain.Sealed `json:"labels"`
	Pair        [2]domain.Sealed         `json:"pair"`
	At          time.Time                `json:"at"`
	Skipped     domain.Sealed            `json:"-"`
	note        string
}

type testMessageSent struct {
	Message testMessage `json:"message"`
	Count   int         `json:"count"`
}

func sampleEvent(user, conv, space domain.Subject) testMessageSent {
	title := domain.Seal("the title", conv)
	return testMessageSent{
		Count: 3,
		Message: testMessage{
			testMeta:    testMeta{Actor: "svc"},
			ID:          "m1",
			Text:        domain.Seal("hello from the user", user, conv),
			Title:       &title,
			Attachments: []testAttachment{{Name: domain.Seal("cv.pdf", user), Size: 10}, {Name: domain.Seal("plan.pdf", space), Size: 20}},
			Labels:      map[string]domain.Sealed{"topic": domain.Seal("health", user, space)},
			Pair:        [2]domain.Sealed{domain.Seal("left", space), domain.Seal("right", conv)},
			At:          time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC),
		},
	}
}

// normalise sorts each Sealed's subjects the way the codec returns them.
func normalise(e *testMessageSent) {
	sortSubs := func(s *domain.Sealed) {
		if s == nil || len(s.Subjects) == 0 {
			return
		}
		subs, _ := canonical("test", s.Subjects)
		s.Subjects = s.Subjects[:0]
		for _, x := range subs {
			p, _ := domain.ParseSubject(x)
			s.Subjects = append(s.Subjects, p)
		}
	}
	m := &e.Message
	sortSubs(&m.Text)
	sortSubs(m.Title)
	for i := range m.Attachments {
		sortSubs(&m.Attachments[i].Name)
	}
	for k, v := range m.Labels {
		sortSubs(&v)
		m.Labels[k] = v
	}
	sortSubs(&m.Pair[0])
	sortSubs(&m.Pair[1])
}

func TestCodecRoundTripAndRedaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	user, conv, space := domain.UserSubject(newID()), domain.ConversationSubject(newID()), domain.SpaceSubject(newID())
	ev := sampleEvent(user, conv, space)
	for name, c := range map[string]*EventCodec{"encrypting": NewCodec(f.kr), "plain": NewPlainCodec()} {
		data, err := c.Encode(ctx, "ev-1", ev)
		if err != nil {
			t.Fatalf("%s encode: %v", name, err)
		}
		var wire map[string]any
		if err := json.Unmarshal(data, &wire); err != nil {
			t.Fatalf("%s: not JSON: %v", name, err)
		}
		msg := wire["message"].(map[string]any)
		if msg["actor"] != "svc" || msg["id"] != "m1" || wire["count"] != 3.0 {
			t.Fatalf("%s: plain fields are not plain JSON: %s", name, data)
		}
		if _, ok := msg["missing"]; ok {
			t.Fatalf("%s: omitempty nil pointer was written: %s", name, data)
		}
		if _, ok := msg["empty"]; ok {
			t.Fatalf("%s: omitempty zero Sealed was written: %s", name, data)
		}
		prefix := EncryptedPrefix
		if name == "plain" {
			prefix = PlainPrefix
		}
		if s, _ := msg["text"].(string); !strings.HasPrefix(s, prefix) {
			t.Fatalf("%s: text is %q", name, msg["text"])
		}
		if name == "encrypting" {
			for _, secret := range []string{"hello", "the title", "cv.pdf", "health", "left", "right"} {
				if bytes.Contains(data, []byte(secret)) {
					t.Fatalf("ciphertext event holds %q: %s", secret, data)
				}
			}
		}
		var got testMessageSent
		if err := c.Decode(ctx, "ev-1", data, &got); err != nil {
			t.Fatalf("%s decode: %v", name, err)
		}
		want := sampleEvent(user, conv, space)
		want.Message.note = ""
		normalise(&want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s round trip:\n got %#v\nwant %#v", name, got.Message.Attachments, want.Message.Attachments)
		}
	}

	// Erase the user: every field depending on the user is redacted, the rest stays.
	c := NewCodec(f.kr)
	data, err := c.Encode(ctx, "ev-2", ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, user, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	var got testMessageSent
	if err := c.Decode(ctx, "ev-2", data, &got); err != nil {
		t.Fatal(err)
	}
	m := got.Message
	for name, s := range map[string]domain.Sealed{"text": m.Text, "attachment 0": m.Attachments[0].Name, "label": m.Labels["topic"]} {
		if !s.Redacted || s.Plain != "" || len(s.Subjects) == 0 {
			t.Errorf("%s not redacted: %+v", name, s)
		}
	}
	for name, pair := range map[string][2]string{
		"title": {m.Title.Plain, "the title"}, "attachment 1": {m.Attachments[1].Name.Plain, "plan.pdf"},
		"pair 0": {m.Pair[0].Plain, "left"}, "pair 1": {m.Pair[1].Plain, "right"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %q, want %q", name, pair[0], pair[1])
		}
	}
	if m.ID != "m1" || m.Actor != "svc" || got.Count != 3 || m.Attachments[0].Size != 10 {
		t.Errorf("plain fields changed: %+v", m)
	}
	// A redacted field cannot be written back.
	if _, err := c.Encode(ctx, "ev-3", got); !domain.Is(domain.KindErased, err) {
		t.Errorf("re-encoding a redacted event: %v", err)
	}
	// Restoring the user brings the fields back.
	if err := f.kr.Restore(ctx, user); err != nil {
		t.Fatal(err)
	}
	got = testMessageSent{}
	if err := c.Decode(ctx, "ev-2", data, &got); err != nil || got.Message.Text.Plain != "hello from the user" {
		t.Fatalf("after restore: %+v, %v", got.Message.Text, err)
	}
}

func TestCodecTamperedADFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := NewCodec(f.kr)
	user, conv, space := domain.UserSubject(newID()), domain.ConversationSubject(newID()), domain.SpaceSubject(newID())
	data, err := c.Encode(ctx, "ev-1", sampleEvent(user, conv, space))
	if err != nil {
		t.Fatal(err)
	}
	var got testMessageSent
	if err := c.Decode(ctx, "ev-other", data, &got); err == nil || domain.Is(domain.KindErased, err) {
		t.Fatalf("decoding under another event id: %v", err)
	}
	// Move the text's envelope into the title field of the same event.
	var wire map[string]any
	if err := json.Unmarshal(data, &wire); err != nil {
		t.Fatal(err)
	}
	msg := wire["message"].(map[string]any)
	msg["title"] = msg["text"]
	moved, _ := json.Marshal(wire)
	if err := c.Decode(ctx, "ev-1", moved, &got); err == nil {
		t.Fatalf("an envelope moved to another field decoded: %+v", got.Message.Title)
	}
	// Swap two attachments: paths include the index.
	atts := msg["attachments"].([]any)
	msg["title"] = nil
	atts[0].(map[string]any)["name"], atts[1].(map[string]any)["name"] = atts[1].(map[string]any)["name"], atts[0].(map[string]any)["name"]
	swapped, _ := json.Marshal(wire)
	if err := c.Decode(ctx, "ev-1", swapped, &got); err == nil {
		t.Fatal("swapped slice elements decoded")
	}
	// A plaintext envelope is refused by the encrypting codec.
	plain, err := NewPlainCodec().Encode(ctx, "ev-1", sampleEvent(user, conv, space))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Decode(ctx, "ev-1", plain, &got); err == nil {
		t.Fatal("the encrypting codec accepted a plaintext envelope")
	}
}

type recursive struct {
	Text     domain.Sealed `json:"text"`
	Children []recursive   `json:"children"`
}

type selfMarshal struct{ Text domain.Sealed }

func (selfMarshal) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

type embedsSealed struct {
	testAttachment
	Size string `json:"size"` // shadows the embedded Size
}

type embedsPointer struct {
	*testAttachment
}

type hidesSealed struct {
	secret domain.Sealed
}

func TestCodecRefusesUnsupportedTypes(t *testing.T) {
	t.Parallel()
	c := NewPlainCodec()
	ctx := context.Background()
	u := domain.UserSubject(newID())
	for name, v := range map[string]any{
		"recursive":      recursive{Text: domain.Seal("x", u)},
		"self-marshaler": selfMarshal{Text: domain.Seal("x", u)},
		"embedded ptr":   embedsPointer{&testAttachment{Name: domain.Seal("leak", u)}},
		"unexported":     hidesSealed{secret: domain.Seal("x", u)},
		"interface":      map[string]any{"x": domain.Seal("leak", u)},
		"no subjects":    testAttachment{Name: domain.Sealed{Plain: "x"}},
	} {
		out, err := c.Encode(ctx, "e", v)
		if err == nil || bytes.Contains(out, []byte("leak")) {
			t.Errorf("%s: encode = %s, %v; want an error", name, out, err)
		}
	}
	// Embedded structs holding Sealed fields are flattened like encoding/json does.
	enc := NewPlainCodec()
	out, err := enc.Encode(ctx, "e", embedsSealed{testAttachment{Name: domain.Seal("n", u), Size: 7}, "big"})
	if err != nil {
		t.Fatal(err)
	}
	var flat map[string]any
	if err := json.Unmarshal(out, &flat); err != nil || flat["size"] != "big" || !strings.HasPrefix(flat["name"].(string), PlainPrefix) {
		t.Fatalf("embedded: %s, %v", out, err)
	}
	var back embedsSealed
	if err := enc.Decode(ctx, "e", out, &back); err != nil || back.Name.Plain != "n" || back.Size != "big" || back.testAttachment.Size != 0 {
		t.Fatalf("embedded decode: %+v, %v", back, err)
	}
	// Types without Sealed fields are plain JSON.
	out, err = c.Encode(ctx, "e", testMeta{Actor: "a"})
	if err != nil || string(out) != `{"actor":"a"}` {
		t.Fatalf("plain type: %s, %v", out, err)
	}
	var m testMeta
	if err := c.Decode(ctx, "e", out, &m); err != nil || m.Actor != "a" {
		t.Fatalf("plain decode: %+v, %v", m, err)
	}
}

type holdsInterface struct {
	Text  domain.Sealed `json:"text"`
	Extra any           `json:"extra"`
}

// TestCodecSealsASealedBehindAnInterface: in a type that holds Sealed fields, a Sealed
// reached through an interface value is sealed at its path like any other, never written
// as plaintext (in a type holding none, Sealed.MarshalJSON refuses it: see above).
func TestCodecSealsASealedBehindAnInterface(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := domain.UserSubject(newID())
	c := NewCodec(f.kr)
	out, err := c.Encode(ctx, "e", holdsInterface{Text: domain.Seal("a", u), Extra: map[string]any{"x": domain.Seal("leak", u)}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("leak")) {
		t.Fatalf("plaintext behind an interface was written: %s", out)
	}
	var wire struct {
		Extra map[string]string `json:"extra"`
	}
	if err := json.Unmarshal(out, &wire); err != nil {
		t.Fatal(err)
	}
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(wire.Extra["x"], EncryptedPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := f.kr.Open(ctx, blob, fieldAD("e", "extra.x")); err != nil || string(pt) != "leak" {
		t.Fatalf("the sealed value behind an interface is not bound to its path: %q, %v", pt, err)
	}
}
