package shredjournal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/shredjournal"
)

// TestAppendReadAndChain appends from several goroutines, reads the chain back in order, and
// shows that changing, removing or reordering a line breaks it, and that Contains tells a
// journal that lost its tail.
func TestAppendReadAndChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "shred-journal")
	j, err := shredjournal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 10; n++ {
				if err := j.RecordDestruction(ctx, keyring.Destruction{Subject: "user:u1", DestroyedAt: time.Now(), Reason: "erasure e1"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	entries, head, err := shredjournal.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 80 || head.Seq != 80 {
		t.Fatalf("read %d entries, head %d; want 80", len(entries), head.Seq)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	if ok, err := shredjournal.Contains(path, head); err != nil || !ok {
		t.Fatalf("Contains(head) = %v, %v", ok, err)
	}
	raw, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	lines = lines[:len(lines)-1]

	cases := map[string][]byte{
		"changed":   bytes.Replace(raw, []byte(`"user:u1"`), []byte(`"user:u2"`), 1),
		"removed":   bytes.Join(append(append([][]byte{}, lines[:3]...), lines[4:]...), nil),
		"reordered": bytes.Join(append([][]byte{lines[1], lines[0]}, lines[2:]...), nil),
		"garbage":   append(append([]byte{}, raw...), []byte("not json\n")...),
	}
	for name, content := range cases {
		p := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := shredjournal.Read(p); !errors.Is(err, shredjournal.ErrBroken) {
			t.Errorf("%s: Read = %v, want ErrBroken", name, err)
		}
		if _, err := shredjournal.Open(p); !errors.Is(err, shredjournal.ErrBroken) {
			t.Errorf("%s: Open = %v, want ErrBroken", name, err)
		}
	}
	truncated := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(truncated, bytes.Join(lines[:40], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, _ := shredjournal.Contains(truncated, head); ok {
		t.Fatal("a journal without its last 40 lines contains the head")
	}
	if _, _, err := shredjournal.Read(filepath.Join(t.TempDir(), "none")); !errors.Is(err, shredjournal.ErrMissing) {
		t.Fatalf("missing journal: %v", err)
	}
}
