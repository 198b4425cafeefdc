package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// VerifyStream reads a stream and checks its hash chain (domain.VerifyChain). It returns
// the head hash and the number of events, or a KindConflict error naming the first broken
// link.
func (a *App) VerifyStream(ctx context.Context, stream string) (head string, events int, err error) {
	recs, _, err := a.store.Load(ctx, stream)
	if err != nil {
		return "", 0, err
	}
	head, err = domain.VerifyChain(recs)
	return head, len(recs), err
}
