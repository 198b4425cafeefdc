package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ViewAuditLog records that the actor reads the organisation's audit log for a period
// (Admins), within an audit session: a justification (10 to 500 characters) opens one or
// continues the one open; without one, a session must be open (see auditSession).
type ViewAuditLog struct {
	Meta
	Justification string
	From, To      time.Time
}

// viewAuditLog runs ViewAuditLog.
func (x *executor) viewAuditLog(ctx context.Context, c ViewAuditLog) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdViewAuditLog,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidatePeriod(c.From, c.To); err != nil {
				return nil, err
			}
			if _, err := x.auditSession(ctx, act, c.Justification); err != nil {
				return nil, err
			}
			return domain.AuditLogViewed{Viewer: act.id, Justification: sealedReason(act, c.Justification),
				From: c.From.UTC(), To: c.To.UTC(), ViewedAt: x.d.Clock.Now().UTC()}, nil
		})
}
