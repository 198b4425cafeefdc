package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeactivateUser stops a user from acting (Admins; not themselves). With Erase it also
// orders the erasure of the user (hidden at once, restorable for the organisation's grace
// window, then shredded); a user under legal hold is then refused before anything changes.
type DeactivateUser struct {
	Meta
	UserID string
	// Erase orders the user's erasure too.
	Erase bool
	// LegalBasis is why the erasure is ordered, if said.
	LegalBasis string
}

// deactivateUser runs DeactivateUser; with Erase, Result.ID is the erasure's id.
func (x *executor) deactivateUser(ctx context.Context, c DeactivateUser) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	if c.Erase {
		act, err := x.loadActor(ctx, c.Meta, domain.CmdDeactivateUser)
		if err != nil {
			return Result{}, err
		}
		u, err := x.loadErasable(ctx, act, domain.SubjectUser, c.UserID)
		if err != nil {
			return Result{}, err
		}
		if err := x.checkHolds(ctx, act, u); err != nil {
			return Result{}, err
		}
	}
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeactivateUser,
		target: func(act actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.User).Deactivate(c.ActorID)
		},
	})
	if err != nil || !c.Erase {
		return res, err
	}
	m := c.Meta
	m.CommandID = c.CommandID + ":erasure"
	m.CausationID = orDefault(c.CausationID, c.CommandID)
	return x.orderErasure(ctx, m, domain.CmdDeactivateUser, domain.SubjectUser, c.UserID, nil, c.LegalBasis, nil)
}
