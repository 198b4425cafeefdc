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
	act, err := x.loadActor(ctx, c.Meta, domain.CmdRestoreErasure)
	if err != nil {
		return Result{}, err
	}
	cmd := domain.CmdRestoreErasure
	if act.role != domain.OrgRoleAdmin {
		// Not an Admin: a space Admin restoring within their space, authorized by their
		// role in the erasure's space.
		cmd = domain.CmdRestoreDeletedItem
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    cmd,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		space: func(t domain.Aggregate) string {
			e := t.(*domain.Erasure)
			if s := e.Subject(); s.Kind == domain.SubjectSpace {
				return s.ID
			}
			return e.SpaceIDOfSubject()
		},
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Restore(act.id, x.d.Clock.Now())
		},
	})
}
