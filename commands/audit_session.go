package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// auditSession is the gate of every read of audit data (the audit log, model invocations,
// exports, as-of history): a read that carries a reason opens a time-boxed audit session
// (domain.DefaultAuditSessionTTL), recorded with the reason, or continues the one open;
// a read without one needs an open session, and is refused — with an access-denied event —
// when there is none. It returns the id of the session the read happens in.
func (x *executor) auditSession(ctx context.Context, act actor, reason string) (string, error) {
	op := string(act.cmd)
	if reason != "" {
		if err := domain.ValidateReason(reason); err != nil {
			return "", err
		}
	}
	now := x.d.Clock.Now()
	return retryStale(ctx, op, maxAttempts, func() (string, error) {
		s := domain.NewAuditSession(act.id)
		recs, err := x.load(ctx, s)
		if err != nil {
			return "", err
		}
		if id, ok := s.OpenAt(now); ok {
			return id, nil
		}
		if reason == "" {
			_ = x.deny(ctx, act.meta, act, act.cmd, s.Stream(), act.org, domain.SpaceRoleNone, domain.ReasonNoAuditSession)
			return "", domain.E(domain.KindForbidden, op,
				"reading audit data needs a reason: no audit session is open; give a reason (justification) of 10 to 500 characters")
		}
		id := DerivedID(act.meta.CommandID, "audit-session")
		if _, ok := applied(recs, act.meta.CommandID, s.Stream()); ok {
			return id, nil // a retried command: its session is recorded already
		}
		if err := s.Open(act.org, id, reason, now, domain.DefaultAuditSessionTTL); err != nil {
			return "", err
		}
		if _, err := x.append(ctx, act.meta, act.id, s, recs); err != nil {
			return "", staleOr(err)
		}
		return id, nil
	})
}

// sealedReason is a read's reason as its access event records it: sealed under the
// organisation, or the zero Sealed when the read continued a session without one.
func sealedReason(act actor, reason string) domain.Sealed {
	if reason == "" {
		return domain.Sealed{}
	}
	return domain.Seal(reason, domain.OrganizationSubject(act.org))
}
