package domain

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets for the domain's validators of caller input (issue 24, "bad input"). Each
// asserts that bad input is refused with a KindInvalid *Error, never a panic, and that what
// is accepted is in the canonical form the validator promises. Seeds: testdata/fuzz/<Name>/;
// `make fuzz` runs each for a bounded time.

// wantInvalid fails unless err is a *Error of KindInvalid.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("%s: error is not a domain error: %T %v", what, err, err)
	}
	if k := KindOf(err); k != KindInvalid {
		t.Fatalf("%s: kind %s, want INVALID (%v)", what, k, err)
	}
}

// FuzzValidators feeds one string to every validator of names, e-mail addresses, ids,
// subjects and model ids.
func FuzzValidators(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := NewName("space name", s); err != nil {
			wantInvalid(t, "NewName", err)
		} else {
			if n != strings.TrimSpace(n) || n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > MaxNameRunes {
				t.Fatalf("NewName accepted %q as %q", s, n)
			}
			for _, r := range n {
				if unicode.IsControl(r) || invisibleFormat(r) {
					t.Fatalf("NewName accepted %q with U+%04X", s, r)
				}
			}
			if again, err := NewName("space name", n); err != nil || again != n {
				t.Fatalf("NewName is not idempotent on %q: %q, %v", n, again, err)
			}
		}

		if e, err := NewEmail(s); err != nil {
			wantInvalid(t, "NewEmail", err)
			if strings.Contains(s, "@") && strings.Contains(err.Error(), s) {
				t.Fatalf("NewEmail's error repeats the address: %v", err)
			}
		} else {
			if e != strings.ToLower(e) || len(e) > 254 || !strings.Contains(e, "@") {
				t.Fatalf("NewEmail accepted %q as %q", s, e)
			}
			// A stored address must pass again (the login and the invitation re-validate it).
			if again, err := NewEmail(e); err != nil || again != e {
				t.Fatalf("NewEmail is not idempotent on %q: %q, %v", e, again, err)
			}
		}

		if err := ValidateID("space id", s); err != nil {
			wantInvalid(t, "ValidateID", err)
		} else if len(s) != 36 || strings.ToLower(s) != s {
			t.Fatalf("ValidateID accepted %q", s)
		}

		if sub, err := ParseSubject(s); err != nil {
			wantInvalid(t, "ParseSubject", err)
		} else {
			if sub.String() != s {
				t.Fatalf("ParseSubject(%q) is not canonical: %q", s, sub.String())
			}
			if err := sub.Validate(); err != nil {
				t.Fatalf("ParseSubject accepted %q, Validate refuses it: %v", s, err)
			}
		}

		if m, err := NewModelID(s); err != nil {
			wantInvalid(t, "NewModelID", err)
		} else if string(m) != s || len(s) > 128 {
			t.Fatalf("NewModelID accepted %q", s)
		}

		if v := SchemaVersion(s); v < 0 {
			t.Fatalf("SchemaVersion(%q) = %d", s, v)
		}
	})
}

// FuzzAPIKey presents arbitrary strings as API keys and as the prefix and hash of a new key:
// only the key itself matches; a malformed prefix or hash is refused and records nothing.
func FuzzAPIKey(f *testing.F) {
	secret, prefix, hash, err := GenerateAPIKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(secret, prefix, hash)
	f.Fuzz(func(t *testing.T, presented, gotPrefix, gotHash string) {
		if p := APIKeyPrefix(presented); p != "" {
			if len(p) != APIKeyPrefixLen || !strings.HasPrefix(presented, p) || !strings.HasPrefix(p, "arkiv_") {
				t.Fatalf("APIKeyPrefix(%q) = %q", presented, p)
			}
		}
		if h := HashAPIKey(presented); len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			t.Fatalf("HashAPIKey gave %q", h)
		}

		k := NewAPIKey(org1)
		if err := k.Create(org1, KeyOwnerUser, user1, prefix, hash, user1); err != nil {
			t.Fatal(err)
		}
		if k.Matches(presented) != (presented == secret) {
			t.Fatalf("Matches(%q) = %v", presented, !(presented == secret))
		}

		other := NewAPIKey(org1)
		err := other.Create(org1, KeyOwnerUser, user1, gotPrefix, gotHash, user1)
		if err != nil {
			wantInvalid(t, "APIKey.Create", err)
			if len(other.Changes()) != 0 || other.Matches(presented) {
				t.Fatal("a refused key recorded an event or matches")
			}
			return
		}
		if len(gotPrefix) != APIKeyPrefixLen || len(gotHash) != 64 || len(other.Changes()) != 1 {
			t.Fatalf("Create accepted prefix %q and hash %q", gotPrefix, gotHash)
		}
	})
}

// FuzzDocumentIngest ingests arbitrary titles, content types and texts (binary, invalid
// UTF-8, or, when huge is set, the text repeated to just over MaxDocumentBytes): the document
// is either refused with KindInvalid and no event, or split into valid UTF-8 chunks of at
// most ChunkBytes that concatenate to the text. SplitText is also run with small sizes.
func FuzzDocumentIngest(f *testing.F) {
	f.Fuzz(func(t *testing.T, title, contentType string, text []byte, huge bool, size uint8) {
		if huge && len(text) > 0 {
			text = bytes.Repeat(text, MaxDocumentBytes/len(text)+1)
		}
		d := NewDocument(doc1)
		err := d.Ingest(liveSpace(), title, contentType, string(text), user1)
		if err != nil {
			wantInvalid(t, "Document.Ingest", err)
			if len(d.Changes()) != 0 || d.Live() {
				t.Fatalf("a refused document recorded %d events", len(d.Changes()))
			}
		} else {
			if len(text) > MaxDocumentBytes || !utf8.Valid(text) || len(text) == 0 {
				t.Fatalf("Ingest accepted a text of %d bytes (valid UTF-8: %v)", len(text), utf8.Valid(text))
			}
			ch := d.Changes()
			head, ok := ch[0].(DocumentIngested)
			if !ok || head.ChunkCount != len(ch)-1 || head.SizeBytes != len(text) {
				t.Fatalf("first event %#v of %d", ch[0], len(ch))
			}
			var joined strings.Builder
			for i, e := range ch[1:] {
				c := e.(DocumentTextChunkAdded)
				if c.Index != i || len(c.Text.Plain) > ChunkBytes || !utf8.ValidString(c.Text.Plain) || c.Text.Plain == "" {
					t.Fatalf("chunk %d: index %d, %d bytes", i, c.Index, len(c.Text.Plain))
				}
				joined.WriteString(c.Text.Plain)
			}
			if joined.String() != string(text) {
				t.Fatal("the chunks do not add up to the text")
			}
		}

		if len(text) > 1<<16 || !utf8.Valid(text) {
			return
		}
		max := utf8.UTFMax + int(size%60)
		parts := SplitText(string(text), max)
		if strings.Join(parts, "") != string(text) {
			t.Fatalf("SplitText(%d) lost text", max)
		}
		for _, p := range parts {
			if p == "" || len(p) > max || !utf8.ValidString(p) {
				t.Fatalf("SplitText(%d) gave the part %q", max, p)
			}
		}
	})
}
