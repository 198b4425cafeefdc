package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ExportAuditLog records that the actor exports the organisation's audit log for a
// period (Admins), within an audit session opened or continued by the justification, as
// ViewAuditLog.
type ExportAuditLog struct {
	Meta
	Justification string
	Format        string
	From, To      time.Time
}

// exportAuditLog runs ExportAuditLog.
func (x *executor) exportAuditLog(ctx context.Context, c ExportAuditLog) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdExportAuditLog,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidateExportFormat(c.Format); err != nil {
				return nil, err
			}
			if err := domain.ValidatePeriod(c.From, c.To); err != nil {
				return nil, err
			}
			if _, err := x.auditSession(ctx, act, c.Justification); err != nil {
				return nil, err
			}
			return domain.AuditLogExported{Exporter: act.id, Justification: sealedReason(act, c.Justification),
				Format: c.Format, From: c.From.UTC(), To: c.To.UTC(), ExportedAt: x.d.Clock.Now().UTC()}, nil
		})
}
