package commands

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/arkiv/arkiv/domain"
)

func TestEventIDsAreDeterministic(t *testing.T) {
	a := EventID("cmd-1", "space-x", 0)
	if a != EventID("cmd-1", "space-x", 0) {
		t.Fatal("same command, stream and index gave two ids")
	}
	for _, other := range []string{EventID("cmd-2", "space-x", 0), EventID("cmd-1", "space-y", 0), EventID("cmd-1", "space-x", 1)} {
		if other == a {
			t.Fatal("different inputs gave the same id")
		}
	}
	if domain.ValidateID("event id", a) != nil || domain.ValidateID("derived id", DerivedID("cmd-1", "space")) != nil {
		t.Fatal("derived ids are not canonical UUIDs")
	}
}

func TestApplied(t *testing.T) {
	stream := "space-00000000-0000-4000-8000-000000000001"
	recs := []domain.Recorded{
		{EventID: EventID("a", stream, 0), Position: 10},
		{EventID: EventID("b", stream, 0), Position: 20},
		{EventID: EventID("b", stream, 1), Position: 21},
		{EventID: EventID("c", stream, 0), Position: 30},
	}
	if pos, ok := applied(recs, "b", stream); !ok || pos != 21 {
		t.Fatalf("applied(b) = %d, %v; want 21, true", pos, ok)
	}
	if _, ok := applied(recs, "d", stream); ok {
		t.Fatal("a new command counted as applied")
	}
	if kindOfStream(stream) != "space" {
		t.Fatalf("kindOfStream = %q", kindOfStream(stream))
	}
}

func TestConstructorsRefuseNilDependencies(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := NewApp(Deps{}, log); !domain.Is(domain.KindInternal, err) {
		t.Fatalf("nil deps accepted: %v", err)
	}
	if _, err := NewApp(Deps{}, nil); err == nil {
		t.Fatal("nil logger accepted")
	}
}

// TestRetryStaleRetriesOnlyStaleAppends: a wrong expected revision is retried up to the
// bound and then KindConflict; any other failure, a decision's KindConflict included, ends
// the loop at once; a cancelled context stops it between tries.
func TestRetryStaleRetriesOnlyStaleAppends(t *testing.T) {
	ctx := context.Background()
	refused := domain.E(domain.KindConflict, "store.append", "the stream changed concurrently")
	calls := 0
	got, err := retryStale(ctx, "op", 5, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, staleOr(refused)
		}
		return 42, nil
	})
	if err != nil || got != 42 || calls != 3 {
		t.Fatalf("stale twice then fine: %d, %v after %d calls", got, err, calls)
	}
	calls = 0
	_, err = retryStale(ctx, "op", 4, func() (int, error) { calls++; return 0, staleOr(refused) })
	if !domain.Is(domain.KindConflict, err) || calls != 4 || !strings.Contains(err.Error(), "gave up after 4") {
		t.Fatalf("always stale: %v after %d calls", err, calls)
	}
	calls = 0
	decided := domain.E(domain.KindConflict, "space.add_member", "already a member")
	_, err = retryStale(ctx, "op", 4, func() (int, error) { calls++; return 0, decided })
	if err != decided || calls != 1 {
		t.Fatalf("a decision's conflict: %v after %d calls", err, calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	calls = 0
	_, err = retryStale(cctx, "op", 4, func() (int, error) { calls++; cancel(); return 0, staleOr(refused) })
	if !domain.Is(domain.KindUnavailable, err) || calls != 1 {
		t.Fatalf("cancelled: %v after %d calls", err, calls)
	}
}
