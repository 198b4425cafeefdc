package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOfWrapped(t *testing.T) {
	base := E(KindNotFound, "space.load", "space not found")
	wrapped := fmt.Errorf("outer: %w", base)
	if got := KindOf(wrapped); got != KindNotFound {
		t.Fatalf("KindOf = %v, want NOT_FOUND", got)
	}
	if got := KindOf(errors.New("plain")); got != KindInternal {
		t.Fatalf("KindOf(plain) = %v, want INTERNAL", got)
	}
	inner := Wrap(KindInternal, "outer", E(KindConflict, "inner", "busy"), "")
	if got := KindOf(inner); got != KindConflict {
		t.Fatalf("KindOf(internal wrapping conflict) = %v", got)
	}
	if PublicMessage(wrapped) != "space not found" {
		t.Fatalf("PublicMessage = %q", PublicMessage(wrapped))
	}
	if PublicMessage(errors.New("secret detail")) != "internal error" {
		t.Fatal("PublicMessage leaked a plain error")
	}
	if KindErased.String() != "ERASED" || Kind(200).String() != "INTERNAL" {
		t.Fatal("kind codes are not stable")
	}
}
