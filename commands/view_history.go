package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ViewHistory records that the actor reads the organisation as it was at an instant — who
// could access a space (or every space), what a user could access, the settings, a space or
// an assistant — (Admins). The answer is computed only after this is recorded, so every
// as-of read is audited. Justification, when given (10 to 500 characters; the CLI always
// gives one), opens an audit session or continues the open one, and the read is recorded
// with the session's id.
type ViewHistory struct {
	Meta
	// OrganizationID names the organisation when the system actor runs it (`arkiv audit
	// as-of` without --actor); a user's own organisation is used otherwise.
	OrganizationID string
	// Query is one of domain's History* names.
	Query string
	// TargetID is the space, user or assistant asked about; empty for the settings, and for
	// the access to every space.
	TargetID string
	// AsOf is the instant asked about.
	AsOf time.Time
	// Justification says why.
	Justification string
}

// viewHistory runs ViewHistory.
func (x *executor) viewHistory(ctx context.Context, c ViewHistory) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdViewHistory, operatorOrganization(c.OrganizationID), nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidateHistoryQuery(c.Query); err != nil {
				return nil, err
			}
			if c.Query != domain.HistorySettings && (c.Query != domain.HistorySpaceAccess || c.TargetID != "") {
				if err := domain.ValidateID("target id", c.TargetID); err != nil {
					return nil, err
				}
			}
			if c.AsOf.IsZero() {
				return nil, domain.E(domain.KindInvalid, string(domain.CmdViewHistory), "the instant asked about is missing")
			}
			ev := domain.HistoryViewed{Viewer: act.id, Query: c.Query, TargetID: c.TargetID, AsOf: c.AsOf.UTC(),
				ViewedAt: x.d.Clock.Now().UTC()}
			if c.Justification != "" {
				id, err := x.auditSession(ctx, act, c.Justification)
				if err != nil {
					return nil, err
				}
				ev.SessionID = id
			}
			return ev, nil
		})
}
