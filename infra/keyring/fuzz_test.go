package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
)

// Fuzz targets for the sealed-field envelope and the event codec (issue 24, "bad input"):
// a malformed or tampered blob, envelope or payload is refused with a *domain.Error, never a
// panic, and a tampered blob never opens. Seeds (testdata/fuzz/<Name>/) are the envelopes of
// testdata/golden.json and mutations of them; `make fuzz` runs each for a bounded time.

// wantDomainError fails unless err is a *domain.Error of one of kinds.
func wantDomainError(t *testing.T, what string, err error, kinds ...domain.Kind) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("%s: error is not a domain error: %T %v", what, err, err)
	}
	if k := domain.KindOf(err); !slices.Contains(kinds, k) {
		t.Fatalf("%s: kind %s, want one of %v (%v)", what, k, kinds, err)
	}
}

// FuzzBlobHeader parses arbitrary bytes as a sealed blob's header and as a plaintext
// envelope, without a key store.
func FuzzBlobHeader(f *testing.F) {
	ctx := context.Background()
	plain := NewPlainCodec()
	f.Fuzz(func(t *testing.T, blob []byte) {
		subs, err := BlobSubjects(blob)
		if err != nil {
			wantDomainError(t, "BlobSubjects", err, domain.KindInternal, domain.KindInvalid)
		} else {
			if len(subs) == 0 || len(subs) > MaxSubjects {
				t.Fatalf("BlobSubjects gave %d subjects", len(subs))
			}
			for i, s := range subs {
				if err := s.Validate(); err != nil {
					t.Fatalf("BlobSubjects gave an invalid subject: %v", err)
				}
				if i > 0 && subs[i-1].String() >= s.String() {
					t.Fatal("BlobSubjects gave subjects out of order or twice")
				}
			}
		}

		// The same bytes as the payload of a plaintext envelope: what opens seals again to an
		// envelope that opens to the same field.
		env := PlainPrefix + base64.RawURLEncoding.EncodeToString(blob)
		for _, e := range []string{env, string(blob)} {
			pt, redacted, err := plain.OpenField(ctx, "ev", "text", e)
			if err != nil {
				wantDomainError(t, "plain OpenField", err, domain.KindInternal, domain.KindInvalid)
				continue
			}
			if redacted {
				t.Fatal("the plaintext codec redacted a field")
			}
			if e == "" {
				if pt != "" {
					t.Fatal("the empty envelope opened to text")
				}
				continue // a zero Sealed
			}
			s, err := plainSealer{}.open(ctx, e, nil)
			if err != nil || s.Plain != pt {
				t.Fatalf("open and OpenField disagree: %v", err)
			}
			again, err := plainSealer{}.seal(ctx, s.Subjects, nil, s.Plain)
			if err != nil {
				t.Fatalf("an opened plaintext envelope does not seal again: %v", err)
			}
			back, err := plainSealer{}.open(ctx, again, nil)
			if err != nil || back.Plain != s.Plain || !reflect.DeepEqual(canonicalStrings(back.Subjects), canonicalStrings(s.Subjects)) {
				t.Fatalf("plaintext envelope round trip: %v", err)
			}
		}
	})
}

// canonicalStrings returns the sorted, distinct canonical forms of subjects.
func canonicalStrings(subs []domain.Subject) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.String()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// goldenSealed is a sealed field of testdata/golden.json.
type goldenSealed struct {
	eventID, path string
	blob          []byte
	plain         string
}

// goldenStore opens a keyring with the golden KEK on a fresh key store holding the golden
// keys, and returns it with every sealed field of the golden events.
func goldenStore(tb testing.TB) (*Keyring, *pgxpool.Pool, []goldenSealed) {
	tb.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		tb.Fatal(err)
	}
	var doc goldenFile
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	kr, pool := goldenKeyring(tb)
	ctx := context.Background()
	for _, k := range doc.Keys {
		if _, err := pool.Exec(ctx, `INSERT INTO keyring_keys (subject, dek_version, kek_version, wrapped, created_at, state)
			VALUES ($1, $2, $3, $4, $5, 'active')`, k.Subject, k.DEKVersion, k.KEKVersion, k.Wrapped, k.CreatedAt); err != nil {
			tb.Fatal(err)
		}
	}
	var fields []goldenSealed
	for _, ev := range doc.Events {
		envs := envelopes(tb, ev.Sealed)
		for _, gf := range ev.Fields {
			fields = append(fields, goldenSealed{ev.ID, gf.Path, blobOf(tb, envs[gf.Path]), gf.Plain})
		}
	}
	return kr, pool, fields
}

// keyStoreState is what a read must not change: the key rows and tombstones.
func keyStoreState(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) || '/' || coalesce(sum(dek_version), 0) || '/' || coalesce(string_agg(state, ',' ORDER BY subject), '') FROM keyring_keys)
		|| ' ' || (SELECT count(*) FROM keyring_tombstones)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzOpenSealedField opens arbitrary blobs under arbitrary event ids and paths with a real
// keyring (the golden key store, in Postgres): only a golden field, presented with its own
// event id and path, opens, to its own plaintext; everything else is a *domain.Error, and
// the key store is unchanged. The codec's OpenField on the blob's envelope agrees.
func FuzzOpenSealedField(f *testing.F) {
	kr, pool, fields := goldenStore(f)
	genuine := map[string]string{}
	for _, g := range fields {
		genuine[string(g.blob)+"\x00"+g.eventID+"\x00"+g.path] = g.plain
	}
	codec := NewCodec(kr)
	before := keyStoreState(f, pool)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, blob []byte, eventID, path string) {
		want, isGenuine := genuine[string(blob)+"\x00"+eventID+"\x00"+path]
		pt, err := kr.Open(ctx, blob, fieldAD(eventID, path))
		switch {
		case err != nil && isGenuine:
			t.Fatalf("a genuine field does not open: %v", err)
		case err != nil:
			wantDomainError(t, "Open", err, domain.KindInternal, domain.KindInvalid)
		case !isGenuine:
			t.Fatalf("a tampered blob opened (event %q, path %q): %q", eventID, path, pt)
		case string(pt) != want:
			t.Fatalf("a genuine field opened to %q, want %q", pt, want)
		}

		env := EncryptedPrefix + base64.RawURLEncoding.EncodeToString(blob)
		plain, redacted, ferr := codec.OpenField(ctx, eventID, path, env)
		if (ferr == nil) != (err == nil) || plain != string(pt) || redacted {
			t.Fatalf("OpenField disagrees with Open: %q %v %v, Open: %v", plain, redacted, ferr, err)
		}
		if ferr != nil {
			wantDomainError(t, "OpenField", ferr, domain.KindInternal, domain.KindInvalid)
		}
		// The bytes as an envelope string: only a genuine field's envelope opens.
		if _, _, err := codec.OpenField(ctx, eventID, path, string(blob)); err != nil {
			wantDomainError(t, "OpenField of a raw string", err, domain.KindInternal, domain.KindInvalid)
		} else if len(blob) != 0 {
			inner, derr := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(string(blob), EncryptedPrefix))
			if _, ok := genuine[string(inner)+"\x00"+eventID+"\x00"+path]; derr != nil || !ok {
				t.Fatalf("OpenField opened an envelope that is not a genuine field's: %q", blob)
			}
		}
		if after := keyStoreState(t, pool); after != before {
			t.Fatalf("opening changed the key store: %s, was %s", after, before)
		}
	})
}

// FuzzEventDecode decodes arbitrary payloads into every registered event type with the
// plaintext codec (the encrypting codec shares the JSON layer; its envelopes are fuzzed
// above): a bad payload is a *domain.Error; a payload that decodes encodes again, and that
// encoding is a fixed point of decode and encode.
func FuzzEventDecode(f *testing.F) {
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		f.Fatal(err)
	}
	names := reg.Names()
	codec := NewPlainCodec()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string, which uint8, data []byte) {
		if _, err := reg.New(name); err != nil {
			// Not a registered name: refused; pick a registered one by index.
			wantDomainError(t, "Registry.New", err, domain.KindInternal)
			name = names[int(which)%len(names)]
		}
		decode := func(b []byte) (domain.Event, error) {
			ptr, err := reg.New(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := codec.Decode(ctx, "ev", b, ptr); err != nil {
				return nil, err
			}
			e, err := domain.Deref(ptr)
			if err != nil {
				t.Fatal(err)
			}
			return e, nil
		}
		e, err := decode(data)
		if err != nil {
			wantDomainError(t, "Decode "+name, err, domain.KindInternal, domain.KindInvalid)
			return
		}
		if e.EventName() != name {
			t.Fatalf("decoded %s as %s", name, e.EventName())
		}
		b1, err := codec.Encode(ctx, "ev", e)
		if err != nil {
			wantDomainError(t, "Encode "+name, err, domain.KindInternal, domain.KindInvalid)
			return
		}
		e2, err := decode(b1)
		if err != nil {
			t.Fatalf("%s: the codec's own encoding does not decode: %v\n%s", name, err, b1)
		}
		b2, err := codec.Encode(ctx, "ev", e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("%s: encode∘decode is not stable: %v\n%s\n%s", name, err, b1, b2)
		}
	})
}
