package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ViewAuditIntegrity records that the actor reads the verifiable log's state, or an
// inclusion proof of EventID (Admins).
type ViewAuditIntegrity struct {
	Meta
	// EventID is the event whose proof is read; empty reads the log's state.
	EventID string
}

// viewAuditIntegrity runs ViewAuditIntegrity.
func (x *executor) viewAuditIntegrity(ctx context.Context, c ViewAuditIntegrity) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdViewAuditIntegrity,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			what := "integrity"
			if c.EventID != "" {
				if err := domain.ValidateID("event id", c.EventID); err != nil {
					return nil, err
				}
				what = "proof"
			}
			return domain.AuditIntegrityViewed{Viewer: act.id, What: what, EventID: c.EventID, ViewedAt: x.d.Clock.Now().UTC()}, nil
		})
}
