package keyring

import (
	"context"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

func TestDestroyAll(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	day := f.clock.Now()
	subjects := []domain.Subject{domain.RetentionBucket(newID(), day), domain.ConversationSubject(newID()), domain.UserSubject(newID())}
	blobs := make([][]byte, len(subjects))
	for i, s := range subjects {
		b, err := f.kr.Seal(ctx, []domain.Subject{s}, []byte("ad"), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		blobs[i] = b
		if err := f.kr.StartShredding(ctx, s, "retention", "system", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.kr.DestroyAll(ctx, subjects[:2])
	if err != nil || n != 2 {
		t.Fatalf("DestroyAll = %d, %v; want 2 destroyed", n, err)
	}
	if n, err := f.kr.DestroyAll(ctx, subjects[:2]); err != nil || n != 0 {
		t.Fatalf("DestroyAll again = %d, %v; want 0, nil (idempotent)", n, err)
	}
	for i, s := range subjects {
		st, err := f.kr.State(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		want := StatusDestroyed
		if i == 2 {
			want = StatusShredding
		}
		if st.Status != want {
			t.Fatalf("%s: %s, want %s", s.Kind, st.Status, want)
		}
		if i < 2 {
			// Purging waits for transactions that other tests keep open on the same server.
			waitPurged(t, f.kr, s)
		}
	}
	for i, b := range blobs[:2] {
		if _, err := f.kr.Open(ctx, b, []byte("ad")); !domain.Is(domain.KindErased, err) {
			t.Fatalf("open blob %d after DestroyAll: %v, want ERASED", i, err)
		}
	}
	if err := f.kr.Restore(ctx, subjects[0]); err != ErrRestoreWindowClosed {
		t.Fatalf("restore after DestroyAll: %v", err)
	}
	active := domain.DocumentSubject(newID())
	if _, err := f.kr.Seal(ctx, []domain.Subject{active}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kr.DestroyAll(ctx, []domain.Subject{subjects[2], active}); !domain.Is(domain.KindConflict, err) {
		t.Fatalf("DestroyAll over an active subject: %v, want CONFLICT", err)
	}
	if st, _ := f.kr.State(ctx, subjects[2]); st.Status != StatusDestroyed {
		t.Fatalf("the shredding subject before the active one: %s, want destroyed", st.Status)
	}
	if _, err := f.kr.DestroyAll(ctx, []domain.Subject{{Kind: "nope", ID: "x"}}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("invalid subject: %v", err)
	}
}
