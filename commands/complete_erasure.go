package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// CompleteErasure makes a pending erasure final once its grace window has passed (Admins,
// or the erasure process manager acting for the requesting Admin); the keyring then
// destroys the subject's key material. A legal hold placed on the subject during the grace
// window refuses it (the order stays pending, restorable, until the hold is lifted).
type CompleteErasure struct {
	Meta
	ErasureID string
}

// completeErasure runs CompleteErasure.
func (x *executor) completeErasure(ctx context.Context, c CompleteErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCompleteErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			e := t.(*domain.Erasure)
			s := erasable{kind: e.Subject().Kind, id: e.Subject().ID, space: e.SpaceIDOfSubject()}
			if s.kind == domain.SubjectSpace {
				s.space = ""
			}
			if s.kind == domain.SubjectConversation {
				conv := domain.NewConversation(s.id)
				if _, err := x.load(ctx, conv); err != nil {
					return err
				}
				s.owner = conv.Owner()
			}
			if err := x.checkHolds(ctx, act, s); err != nil {
				return err
			}
			return e.Complete(act.id, x.d.Clock.Now())
		},
	})
}
