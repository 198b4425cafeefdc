package commands

import (
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
	if _, err := NewCreateSpaceHandler(Deps{}); !domain.Is(domain.KindInternal, err) {
		t.Fatalf("nil deps accepted: %v", err)
	}
	if _, err := NewApp(Deps{}, nil); err == nil {
		t.Fatal("nil logger accepted")
	}
}
