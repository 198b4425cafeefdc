package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// The reads that are audited besides documents, the audit log and model invocations: a
// search (it returns document text), a who-can-access query, a subscription to the live
// audit stream, and a logout. Each runs the RBAC check again and appends its access event
// before the read is served.

// RecordSearch records that the actor searches a space's documents (space members); Hits
// is how many results were returned. The query itself is not kept.
type RecordSearch struct {
	Meta
	SpaceID string
	Hits    int
}

// recordSearch runs RecordSearch.
func (x *executor) recordSearch(ctx context.Context, c RecordSearch) (Result, error) {
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return Result{}, err
	}
	return x.recordAccess(ctx, c.Meta, domain.CmdSearch,
		func(actor) domain.Aggregate { return domain.NewSpace(c.SpaceID) },
		func(a domain.Aggregate) string { return a.ID() },
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if !t.(*domain.Space).Live() {
				return nil, domain.E(domain.KindNotFound, "space.search", "space not found")
			}
			return domain.SearchPerformed{Searcher: act.id, SpaceID: t.ID(), Hits: c.Hits, SearchedAt: x.d.Clock.Now().UTC()}, nil
		})
}

// RecordAccessQuery records a read of who can access what (Admins): whoCanAccess(SpaceID)
// when SpaceID is set, accessOf(UserID) otherwise.
type RecordAccessQuery struct {
	Meta
	SpaceID string
	UserID  string
}

// recordAccessQuery runs RecordAccessQuery.
func (x *executor) recordAccessQuery(ctx context.Context, c RecordAccessQuery) (Result, error) {
	query, id := domain.AccessQueryWhoCanAccess, c.SpaceID
	if c.SpaceID == "" {
		query, id = domain.AccessQueryAccessOf, c.UserID
	}
	if err := domain.ValidateID("id", id); err != nil {
		return Result{}, err
	}
	// The read is of the organisation's access tables: its target is the organisation, so a
	// queried id that is unknown, erased or of another organisation is recorded (the query
	// answers with nothing) rather than refused.
	return x.recordAccess(ctx, c.Meta, domain.CmdViewAccess,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			return domain.AccessQueried{Viewer: act.id, Query: query, SpaceID: c.SpaceID, UserID: c.UserID,
				QueriedAt: x.d.Clock.Now().UTC()}, nil
		})
}

// RecordAuditSubscription records that the actor subscribes to the organisation's live
// audit stream (Admins).
type RecordAuditSubscription struct {
	Meta
}

// recordAuditSubscription runs RecordAuditSubscription.
func (x *executor) recordAuditSubscription(ctx context.Context, c RecordAuditSubscription) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdSubscribeAudit,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			return domain.AuditSubscribed{Subscriber: act.id, SubscribedAt: x.d.Clock.Now().UTC()}, nil
		})
}

// RecordLogout records that the actor ended their session (anyone).
type RecordLogout struct {
	Meta
}

// recordLogout runs RecordLogout.
func (x *executor) recordLogout(ctx context.Context, c RecordLogout) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdLogout,
		func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) }, nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			return domain.LoggedOut{UserID: act.id, LoggedOutAt: x.d.Clock.Now().UTC()}, nil
		})
}
