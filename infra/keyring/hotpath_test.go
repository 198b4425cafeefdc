package keyring

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// BenchmarkSealOpen is the keyring's hot path: Seal then Open of a 1 KiB field under three
// subjects with every key cached (go test -bench SealOpen -benchmem ./infra/keyring/).
func BenchmarkSealOpen(b *testing.B) {
	f := newFixture(b, WithoutListener())
	ctx := context.Background()
	subs := []domain.Subject{
		domain.UserSubject(newID()),
		domain.ConversationSubject(newID()),
		domain.RetentionBucket(newID(), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)),
	}
	plain := []byte(strings.Repeat("x", 1024))
	ad := []byte("event-id/message.text")
	if _, err := f.kr.Seal(ctx, subs, ad, plain); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		blob, err := f.kr.Seal(ctx, subs, ad, plain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.kr.Open(ctx, blob, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNamesOfMatchesCanonical: the allocation-free subject canonicalisation of Seal agrees
// with canonical (sorted, distinct, validated), also past MaxSubjects with duplicates, and
// a subject's lock stripe is the same from its string and its byte form.
func TestNamesOfMatchesCanonical(t *testing.T) {
	day := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	a, b := newID(), newID()
	many := append(allKinds(a, day), allKinds(b, day)...)
	many = append(many, allKinds(a, day)...) // 21 subjects, 14 distinct
	cases := [][]domain.Subject{
		{domain.UserSubject(a)},
		{domain.UserSubject(b), domain.UserSubject(a), domain.UserSubject(b)},
		allKinds(a, day),
		many,
		append(many, allKinds(newID(), day)...), // 21 distinct: too many
		{{Kind: "user", ID: "NOT-A-UUID"}},
		nil,
	}
	k := &Keyring{stripeSeed: maphash.MakeSeed()}
	for i, subs := range cases {
		want, werr := canonical("test", subs)
		var buf [MaxSubjects * maxSubjectLen]byte
		got, gerr := namesOf("test", subs, buf[:0])
		if (werr == nil) != (gerr == nil) || domain.KindOf(werr) != domain.KindOf(gerr) {
			t.Fatalf("case %d: canonical err %v, namesOf err %v", i, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if gs := got.strings(); !slices.Equal(gs, want) {
			t.Fatalf("case %d: namesOf %q, canonical %q", i, gs, want)
		}
		for i, s := range want {
			if k.stripeOf(s) != int(k.stripeOfBytes(got.names[i])) {
				t.Fatalf("stripe of %s differs between the string and the byte form", s)
			}
		}
	}
}

// BenchmarkPlainCodec is the codec's own cost, without encryption: Encode then Decode of a
// message event with one sealed field (go test -bench PlainCodec -benchmem ./infra/keyring/).
func BenchmarkPlainCodec(b *testing.B) {
	c := NewPlainCodec()
	ctx := context.Background()
	conv := domain.ConversationSubject(newID())
	ev := domain.MessageSent{ConversationID: conv.ID, MessageID: newID(), Author: newID(),
		Text: domain.Seal(strings.Repeat("x", 512), conv, domain.UserSubject(newID())), SentAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		data, err := c.Encode(ctx, "event-id", ev)
		if err != nil {
			b.Fatal(err)
		}
		var back domain.MessageSent
		if err := c.Decode(ctx, "event-id", data, &back); err != nil {
			b.Fatal(err)
		}
	}
}
