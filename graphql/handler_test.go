package graphql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/arkiv/arkiv/domain"
)

// TestErrorPresenterHidesInternals: internal errors carry code INTERNAL and no detail; domain
// errors carry their kind's code and public message only.
func TestErrorPresenterHidesInternals(t *testing.T) {
	present := errorPresenter(slog.New(slog.DiscardHandler), true)
	for _, c := range []struct {
		err     error
		code    string
		message string
	}{
		{errors.New("pq: password authentication failed for user arkiv at 10.0.0.5"), "INTERNAL", "internal error"},
		{domain.Wrap(domain.KindInternal, "x", errors.New("dial tcp 10.0.0.5:5432"), "reading spaces"), "INTERNAL", "internal error"},
		{domain.Wrap(domain.KindUnavailable, "x", errors.New("dial tcp 10.0.0.5:5432"), "the read models are unavailable"), "UNAVAILABLE", "the read models are unavailable"},
		{fmt.Errorf("wrapped: %w", domain.E(domain.KindForbidden, "x", "not allowed to CreateSpace")), "FORBIDDEN", "not allowed to CreateSpace"},
	} {
		g := present(context.Background(), c.err)
		if g.Extensions["code"] != c.code || g.Message != c.message {
			t.Errorf("%v: got %q %q, want %q %q", c.err, g.Extensions["code"], g.Message, c.code, c.message)
		}
	}
}
