package keyring

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// recordingJournal keeps the destructions it is told about; fail makes it refuse them.
// (The file journal, package shredjournal, imports this package and is tested there and end
// to end by `arkiv backup`.)
type recordingJournal struct {
	mu   sync.Mutex
	got  []Destruction
	fail bool
}

func (j *recordingJournal) RecordDestruction(_ context.Context, d Destruction) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail {
		return errors.New("disk full")
	}
	j.got = append(j.got, d)
	return nil
}

// TestDestructionsAreJournalled: every destruction path writes the journal, a journal that
// fails stops the destruction, and Redestroy destroys again from journal entries whatever
// the restored state (active, shredding, unknown), without journalling twice.
func TestDestructionsAreJournalled(t *testing.T) {
	ctx := context.Background()
	j := &recordingJournal{}
	f := newFixture(t, WithShredJournal(j))
	a, b, c, d := domain.UserSubject(newID()), domain.DocumentSubject(newID()), domain.ConversationSubject(newID()), domain.UserSubject(newID())
	blob, err := f.kr.Seal(ctx, []domain.Subject{a}, nil, []byte("canary"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, a, "erasure e1", "admin", 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []domain.Subject{b, c} {
		if err := f.kr.StartShredding(ctx, s, "retention", "system", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.kr.DestroyAll(ctx, []domain.Subject{b}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	if n, err := f.kr.DestroyDue(ctx); err != nil || n != 1 {
		t.Fatalf("DestroyDue = %d, %v", n, err)
	}
	if len(j.got) != 3 || j.got[0].Subject != a.String() || j.got[0].Reason != "erasure e1" ||
		j.got[1].Subject != b.String() || j.got[2].Subject != c.String() || j.got[2].Reason != "retention" {
		t.Fatalf("journal holds %+v", j.got)
	}

	if err := f.kr.StartShredding(ctx, d, "erasure e2", "admin", time.Hour); err != nil {
		t.Fatal(err)
	}
	j.fail = true
	if err := f.kr.Destroy(ctx, d); !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("Destroy with a failing journal: %v, want UNAVAILABLE", err)
	}
	if st, _ := f.kr.State(ctx, d); st.Status != StatusShredding {
		t.Fatalf("after a journal failure the key is %s, want still shredding", st.Status)
	}
	j.fail = false

	// Redestroy after a "restore": a live key, a shredding one (d), one the key store never
	// saw and one already destroyed (a).
	live, unknown := domain.UserSubject(newID()), domain.DocumentSubject(newID())
	blob2, err := f.kr.Seal(ctx, []domain.Subject{live}, nil, []byte("canary"))
	if err != nil {
		t.Fatal(err)
	}
	before := len(j.got)
	now := f.clock.Now()
	got, err := f.kr.Redestroy(ctx, []Destruction{
		{Subject: live.String(), DestroyedAt: now, Reason: "erasure e3"},
		{Subject: d.String(), DestroyedAt: now},
		{Subject: unknown.String(), DestroyedAt: now},
		{Subject: a.String(), DestroyedAt: now},
	})
	if err != nil || len(got) != 3 || got[0] != live.String() {
		t.Fatalf("Redestroy = %v, %v; want 3 subjects (a was already destroyed)", got, err)
	}
	if len(j.got) != before {
		t.Fatal("Redestroy wrote to the journal")
	}
	for _, s := range []domain.Subject{live, d, unknown, a} {
		if st, _ := f.kr.State(ctx, s); st.Status != StatusDestroyed {
			t.Fatalf("%s after Redestroy: %s", s.Kind, st.Status)
		}
	}
	for _, bl := range [][]byte{blob, blob2} {
		if _, err := f.kr.Open(ctx, bl, nil); !domain.Is(domain.KindErased, err) {
			t.Fatalf("open after Redestroy: %v, want ERASED", err)
		}
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{unknown}, nil, []byte("x")); !domain.Is(domain.KindErased, err) {
		t.Fatalf("seal for a tombstoned unknown subject: %v, want ERASED", err)
	}
}
