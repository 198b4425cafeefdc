package graphql

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/history"
	"github.com/arkiv/arkiv/readmodels"
)

// As-of questions: the organisation as it was at an instant, folded from its events by
// history (never from the read models). Each read is recorded (ViewHistory) before it is
// answered; ViewHistory also authorises it (Admins).

// atInstant records the as-of read and returns the organisation at t.
func (r *Resolver) atInstant(ctx context.Context, query, target string, t time.Time) (*history.State, error) {
	if r.History == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.asOf", "as-of answers are not available on this server")
	}
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.App.ViewHistory.Handle(ctx, commands.ViewHistory{Meta: m, Query: query, TargetID: target, AsOf: t}); err != nil {
		return nil, err
	}
	return r.History.At(ctx, p.OrganizationID, t)
}

// asOfOrNow is asOf, or now when absent.
func (r *Resolver) asOfOrNow(asOf *time.Time) time.Time {
	if asOf != nil {
		return *asOf
	}
	return r.now()
}

func toAccess(as []history.Access) []readmodels.Access {
	out := make([]readmodels.Access, len(as))
	for i, a := range as {
		out[i] = readmodels.Access{SpaceID: a.SpaceID, UserID: a.UserID, Role: a.Role}
	}
	return out
}

// accessAsOf answers whoCanAccess (HistorySpaceAccess) and accessOf (HistoryUserAccess)
// with asOf.
func (r *Resolver) accessAsOf(ctx context.Context, query, id string, t time.Time) ([]readmodels.Access, error) {
	what := map[string]string{domain.HistorySpaceAccess: "space id", domain.HistoryUserAccess: "user id"}[query]
	if err := domain.ValidateID(what, id); err != nil {
		return nil, err
	}
	st, err := r.atInstant(ctx, query, id, t)
	if err != nil {
		return nil, err
	}
	if query == domain.HistorySpaceAccess {
		return toAccess(st.WhoCanAccess(id)), nil
	}
	return toAccess(st.AccessOf(id)), nil
}

// spaceAsOf answers space(id, asOf): the caller's role is theirs then.
func (r *Resolver) spaceAsOf(ctx context.Context, id string, t time.Time) (*readmodels.MemberSpace, error) {
	st, err := r.atInstant(ctx, domain.HistorySpace, id, t)
	if err != nil {
		return nil, err
	}
	sp := st.Space(id)
	if sp == nil {
		return nil, nil
	}
	p, _ := caller(ctx)
	out := &readmodels.MemberSpace{Space: readmodels.Space{ID: sp.ID, OrganizationID: p.OrganizationID, Classification: sp.Classification,
		Models: sp.Models}, AsOfMembers: []readmodels.SpaceMember{}}
	for _, m := range sp.Members {
		out.AsOfMembers = append(out.AsOfMembers, readmodels.SpaceMember{SpaceID: id, UserID: m.UserID, Role: m.Role})
		if m.UserID == p.UserID {
			out.Role = m.Role
		}
	}
	return out, nil
}

// asOfMembers fills in the users of an as-of answer's members (as they are now; null once
// erased).
func (r *Resolver) asOfMembers(ctx context.Context, ms []readmodels.SpaceMember) ([]readmodels.SpaceMember, error) {
	out := make([]readmodels.SpaceMember, len(ms))
	for i, m := range ms {
		u, err := userLoader(ctx, r, m.UserID)
		if err != nil {
			return nil, err
		}
		m.User = u
		out[i] = m
	}
	return out, nil
}

// OrganizationSettings is the resolver for the organizationSettings field.
func (r queryResolver) OrganizationSettings(ctx context.Context, asOf *time.Time) (*history.Settings, error) {
	st, err := r.atInstant(ctx, domain.HistorySettings, "", r.asOfOrNow(asOf))
	if err != nil {
		return nil, err
	}
	s := st.Settings()
	if !s.Exists {
		s.Settings = domain.DefaultOrganizationSettings()
	}
	return &s, nil
}

// Assistant is the resolver for the assistant field.
func (r queryResolver) Assistant(ctx context.Context, id string, asOf *time.Time) (*readmodels.Assistant, error) {
	if err := domain.ValidateID("assistant id", id); err != nil {
		return nil, err
	}
	st, err := r.atInstant(ctx, domain.HistoryAssistant, id, r.asOfOrNow(asOf))
	if err != nil {
		return nil, err
	}
	a := st.Assistant(id)
	if a == nil {
		return nil, nil
	}
	p, _ := caller(ctx)
	return &readmodels.Assistant{ID: a.ID, OrganizationID: p.OrganizationID, SpaceID: a.SpaceID, Model: a.Model,
		RetentionDays: a.RetentionDays, LogModelPayloads: a.LogModelPayloads}, nil
}
