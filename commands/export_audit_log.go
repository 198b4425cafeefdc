package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ExportAuditLog records that the actor exports the organisation's audit log for a
// period, with a justification (Admins), within an audit session opened or continued by the
// justification, as ViewAuditLog. The system actor runs it for `arkiv audit export`, an
// operator tool with direct database access; OrganizationID then names the organisation (a
// user's own organisation is used otherwise).
type ExportAuditLog struct {
	Meta
	OrganizationID string
	Justification  string
	Format         string
	From, To       time.Time
}

// operatorOrganization is the target of a read that the system actor may run for an
// operator's CLI tool (audit export, as-of, evidence): the organisation orgID names for the
// system actor, a user's own organisation otherwise.
func operatorOrganization(orgID string) func(actor) domain.Aggregate {
	return func(act actor) domain.Aggregate {
		if act.system {
			return domain.NewOrganization(orgID)
		}
		return domain.NewOrganization(act.org)
	}
}

// exportAuditLog runs ExportAuditLog.
func (x *executor) exportAuditLog(ctx context.Context, c ExportAuditLog) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdExportAuditLog,
		operatorOrganization(c.OrganizationID), nil,
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
