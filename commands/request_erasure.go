package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RequestErasure orders the erasure of a data subject of the actor's organisation
// (Admins). The subject is hidden at once and destroyed after the grace window.
type RequestErasure struct {
	Meta
	// ErasureID is the order's id; empty derives one from the command id.
	ErasureID   string
	SubjectType domain.SubjectKind
	SubjectID   string
	// GraceDays overrides the organisation's erasure grace window when not nil.
	GraceDays *int
}

// requestErasure runs RequestErasure; Result.ID is the erasure's id.
func (x *executor) requestErasure(ctx context.Context, c RequestErasure) (Result, error) {
	if err := domain.ValidateID("subject id", c.SubjectID); err != nil {
		return Result{}, err
	}
	if _, err := subjectAggregate(c.SubjectType, c.SubjectID); err != nil {
		return Result{}, err
	}
	id := orDefault(c.ErasureID, DerivedID(c.CommandID, "erasure"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRequestErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(id) },
		create: true,
		prepare: func(ctx context.Context, act actor) error {
			subject, _ := subjectAggregate(c.SubjectType, c.SubjectID)
			return x.loadSameOrg(ctx, act, subject, "subject")
		},
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			grace := 0
			if c.GraceDays != nil {
				grace = *c.GraceDays
			} else {
				org := domain.NewOrganization(act.org)
				if err := x.loadSameOrg(ctx, act, org, "organisation"); err != nil {
					return err
				}
				grace = org.Settings().ErasureGraceDays
			}
			return t.(*domain.Erasure).Request(act.org, c.SubjectType, c.SubjectID, grace, act.id, x.d.Clock.Now())
		},
	})
}
