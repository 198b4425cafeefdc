package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// erasable is the subject of an erasure order as the write model knows it.
type erasable struct {
	kind  domain.SubjectKind
	id    string
	space string // the subject's space, empty for users, spaces and organisations
	owner string // a conversation's owner
	live  bool
}

// loadErasable loads the subject of an erasure order of the actor's organisation. One that
// does not exist is not found; one of another organisation is refused with an access-denied
// event (loadSameOrg).
func (x *executor) loadErasable(ctx context.Context, act actor, kind domain.SubjectKind, id string) (erasable, error) {
	var a domain.Aggregate
	switch kind {
	case domain.SubjectAssistant:
		a = domain.NewAssistant(id)
	default:
		var err error
		if a, err = subjectAggregate(kind, id); err != nil {
			return erasable{}, err
		}
	}
	if err := x.loadSameOrg(ctx, act, a, string(kind)); err != nil {
		return erasable{}, err
	}
	e := erasable{kind: kind, id: id, space: a.SpaceID(), live: true}
	switch t := a.(type) {
	case *domain.Document:
		e.live = t.Live()
	case *domain.Assistant:
		e.live = t.Live()
	case *domain.Space:
		e.live, e.space = t.Live(), ""
	case *domain.Conversation:
		e.owner = t.Owner()
	}
	if !e.live {
		return erasable{}, domain.Errorf(domain.KindNotFound, string(act.cmd), "%s not found", kind)
	}
	return e, nil
}

// checkHolds refuses the destruction of s while a legal hold covers it, recording the
// refusal as an access-denied event (ReasonLegalHold).
func (x *executor) checkHolds(ctx context.Context, act actor, s erasable) error {
	holds := domain.NewLegalHolds(act.org)
	if _, err := x.load(ctx, holds); err != nil {
		return err
	}
	blocking := holds.Blocking(domain.Subject{Kind: s.kind, ID: s.id}, s.space, s.owner)
	if len(blocking) == 0 {
		return nil
	}
	// A person's attempt is recorded as a denial (the system actor's completion rounds,
	// retried every round while the hold lasts, are not); the refusal is the hold's typed
	// error, not FORBIDDEN.
	if !act.system {
		_ = x.deny(ctx, act.meta, act, act.cmd, streamOf(s.kind, s.id), act.org, domain.SpaceRoleNone, domain.ReasonLegalHold)
	}
	return domain.ErrLegalHold(string(act.cmd), blocking)
}

// streamOf returns the stream of an erasable subject.
func streamOf(kind domain.SubjectKind, id string) string {
	return map[domain.SubjectKind]string{domain.SubjectUser: domain.StreamPrefixUser, domain.SubjectDocument: domain.StreamPrefixDocument,
		domain.SubjectConversation: domain.StreamPrefixConversation, domain.SubjectSpace: domain.StreamPrefixSpace,
		domain.SubjectOrganization: domain.StreamPrefixOrganization, domain.SubjectAssistant: domain.StreamPrefixAssistant}[kind] + id
}

// orderErasure is the one way every delete goes: it orders the erasure of a subject of the
// actor's organisation (hidden at once, restorable for the organisation's grace window,
// then shredded), authorized as cmd — for a space-scoped cmd by the actor's role in the
// subject's space — refused while a legal hold covers the subject. allow, if set, decides
// further on the loaded subject and the actor's space role (a conversation's owner).
func (x *executor) orderErasure(ctx context.Context, m Meta, cmd domain.Command, kind domain.SubjectKind, id string,
	grace *int, legalBasis string, allow func(ctx context.Context, act actor, s erasable) error) (Result, error) {
	return x.orderErasureAs(ctx, m, "", cmd, kind, id, grace, legalBasis, allow)
}

// orderErasureAs is orderErasure with the order's id (empty derives it from the command id).
func (x *executor) orderErasureAs(ctx context.Context, m Meta, erasureID string, cmd domain.Command, kind domain.SubjectKind, id string,
	grace *int, legalBasis string, allow func(ctx context.Context, act actor, s erasable) error) (Result, error) {
	if err := domain.ValidateID(string(kind)+" id", id); err != nil {
		return Result{}, err
	}
	erasureID = orDefault(erasureID, DerivedID(m.CommandID, "erasure"))
	var subject erasable
	return x.run(ctx, m, spec{
		cmd:    cmd,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(erasureID) },
		create: true,
		prepare: func(ctx context.Context, act actor) error {
			var err error
			subject, err = x.loadErasable(ctx, act, kind, id)
			return err
		},
		space: func(domain.Aggregate) string {
			if kind == domain.SubjectSpace {
				return id
			}
			return subject.space
		},
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if allow != nil {
				if err := allow(ctx, act, subject); err != nil {
					return err
				}
			}
			if err := x.checkHolds(ctx, act, subject); err != nil {
				return err
			}
			days := 0
			if grace != nil {
				days = *grace
			} else {
				org := domain.NewOrganization(act.org)
				if err := x.loadSameOrg(ctx, act, org, "organisation"); err != nil {
					return err
				}
				days = org.Settings().ErasureGraceDays
			}
			space := subject.space
			if kind == domain.SubjectSpace {
				space = id
			}
			return t.(*domain.Erasure).Order(act.org, kind, id, days, act.id, x.d.Clock.Now(),
				domain.ErasureOrder{Origin: cmd, LegalBasis: legalBasis, SpaceID: space})
		},
	})
}
