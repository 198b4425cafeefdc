package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ViewModelInvocations records that the actor reads what was sent to models, with the
// filters used (Admins). The query runs only after this is recorded, so every read is
// audited.
type ViewModelInvocations struct {
	Meta
	// AssistantID, SpaceID and UserID narrow the read; empty means any.
	AssistantID, SpaceID, UserID string
	// From and To bound the invocation time; zero means unbounded.
	From, To time.Time
	// Justification, when not empty, says why (10 to 500 characters); it is recorded sealed
	// under the organisation and opens an audit session or continues the open one. Without
	// one, the read needs an open audit session (see auditSession).
	Justification string
}

// viewModelInvocations runs ViewModelInvocations.
func (x *executor) viewModelInvocations(ctx context.Context, c ViewModelInvocations) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdViewModelInvocations,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			for what, id := range map[string]string{"assistant id": c.AssistantID, "space id": c.SpaceID, "user id": c.UserID} {
				if id != "" {
					if err := domain.ValidateID(what, id); err != nil {
						return nil, err
					}
				}
			}
			if !c.From.IsZero() && !c.To.IsZero() {
				if err := domain.ValidatePeriod(c.From, c.To); err != nil {
					return nil, err
				}
			}
			ev := domain.ModelInvocationsViewed{Viewer: act.id, AssistantID: c.AssistantID, SpaceID: c.SpaceID,
				UserID: c.UserID, ViewedAt: x.d.Clock.Now().UTC()}
			if _, err := x.auditSession(ctx, act, c.Justification); err != nil {
				return nil, err
			}
			ev.Justification = sealedReason(act, c.Justification)
			if !c.From.IsZero() {
				ev.From = c.From.UTC()
			}
			if !c.To.IsZero() {
				ev.To = c.To.UTC()
			}
			return ev, nil
		})
}
