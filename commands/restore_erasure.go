package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RestoreErasure undoes a pending erasure within its grace window: Admins any of their
// organisation's, a space's Admins those of subjects in their space (a deleted document,
// conversation or assistant).
type RestoreErasure struct {
	Meta
	ErasureID string
}

// restoreErasure runs RestoreErasure.
func (x *executor) restoreErasure(ctx context.Context, c RestoreErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	// An erasure of a subject in a space (or of a space) is restored as
	// CmdRestoreDeletedItem, authorized by the actor's role in that space (organisation
	// Admins by oversight); any other as CmdRestoreErasure (Admins).
	e := domain.NewErasure(c.ErasureID)
	if _, err := x.load(ctx, e); err != nil {
		return Result{}, err
	}
	cmd := domain.CmdRestoreErasure
	if e.SpaceIDOfSubject() != "" {
		cmd = domain.CmdRestoreDeletedItem
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    cmd,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		space:  func(t domain.Aggregate) string { return t.(*domain.Erasure).SpaceIDOfSubject() },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Restore(act.id, x.d.Clock.Now())
		},
	})
}
