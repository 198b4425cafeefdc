package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ViewAuditLog records that the actor reads the organisation's audit log for a period,
// with a justification (Admins).
type ViewAuditLog struct {
	Meta
	Justification string
	From, To      time.Time
}

// ViewAuditLogHandler handles ViewAuditLog.
type ViewAuditLogHandler struct{ x *executor }

// NewViewAuditLogHandler returns the handler; it refuses nil dependencies.
func NewViewAuditLogHandler(d Deps) (*ViewAuditLogHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &ViewAuditLogHandler{x}, nil
}

// Handle runs the command.
func (h *ViewAuditLogHandler) Handle(ctx context.Context, c ViewAuditLog) (Result, error) {
	return h.x.recordAccess(ctx, c.Meta, domain.CmdViewAuditLog,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidateJustification(c.Justification); err != nil {
				return nil, err
			}
			if err := domain.ValidatePeriod(c.From, c.To); err != nil {
				return nil, err
			}
			return domain.AuditLogViewed{Viewer: act.id, Justification: domain.Seal(c.Justification, domain.OrganizationSubject(act.org)),
				From: c.From.UTC(), To: c.To.UTC(), ViewedAt: h.x.d.Clock.Now().UTC()}, nil
		})
}
