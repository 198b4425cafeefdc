package graphql

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// The audit log and its stream.

// AuditLog is the resolver for the auditLog field. The ViewAuditLog command authorises the
// read again and records it, with its justification, before the entries are read.
func (r queryResolver) AuditLog(ctx context.Context, filter *generated.AuditFilter, justification *string, first *int, after *string, consistentAt *string) (*readmodels.AuditConnection, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	var f readmodels.AuditFilter
	if filter != nil {
		f = readmodels.AuditFilter{ActorID: deref(filter.ActorID), Action: deref(filter.Action), TargetID: deref(filter.TargetID),
			SpaceID: deref(filter.SpaceID), Outcome: deref(filter.Outcome)}
		if filter.From != nil {
			f.From = *filter.From
		}
		if filter.To != nil {
			f.To = *filter.To
		}
	}
	from, to := f.From, f.To
	if from.IsZero() {
		from = time.Unix(0, 0).UTC()
	}
	if to.IsZero() {
		to = r.now().UTC().Add(time.Second)
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if _, err := r.App.ViewAuditLog.Handle(ctx, commands.ViewAuditLog{Meta: m, Justification: deref(justification), From: from, To: to}); err != nil {
		return nil, err
	}
	c, err := r.Reads.AuditLog(ctx, p.OrganizationID, f, pg)
	return &c, err
}

// Position is the resolver for AuditEntry.position.
func (auditEntryResolver) Position(_ context.Context, obj *readmodels.AuditEntry) (string, error) {
	return position(obj.Position), nil
}

// ActorID is the resolver for AuditEntry.actorId.
func (auditEntryResolver) ActorID(_ context.Context, obj *readmodels.AuditEntry) (*string, error) {
	return optional(obj.ActorID), nil
}

// TargetID is the resolver for AuditEntry.targetId.
func (auditEntryResolver) TargetID(_ context.Context, obj *readmodels.AuditEntry) (*string, error) {
	return optional(obj.TargetID), nil
}

// SpaceID is the resolver for AuditEntry.spaceId.
func (auditEntryResolver) SpaceID(_ context.Context, obj *readmodels.AuditEntry) (*string, error) {
	return optional(obj.SpaceID), nil
}

// OccurredAt is the resolver for AuditEntry.occurredAt, in UTC.
func (auditEntryResolver) OccurredAt(_ context.Context, obj *readmodels.AuditEntry) (*time.Time, error) {
	t := obj.OccurredAt.UTC()
	return &t, nil
}

// AuditEvents is the resolver for the auditEvents field.
func (r subscriptionResolver) AuditEvents(ctx context.Context) (<-chan *readmodels.AuditEntry, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.recordAuditSubscription(ctx); err != nil {
		return nil, err
	}
	return r.Feed.Audit(ctx, p.OrganizationID)
}
