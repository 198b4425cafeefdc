package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// VerifyStream reads a stream and checks its hash chain (domain.VerifyChain). It returns
// the head hash and the number of events, or a KindConflict error naming the first broken
// link.
func (a *App) VerifyStream(ctx context.Context, stream string) (head string, events int, err error) {
	recs, _, err := a.store.Load(ctx, stream)
	if err != nil {
		return "", 0, err
	}
	head, err = domain.VerifyChain(recs)
	return head, len(recs), err
}

// AuditSessionInfo is a user's open audit session.
type AuditSessionInfo struct {
	ID                  string
	OpenedAt, ExpiresAt time.Time
}

// AuditSessionOf returns the audit session open now for userID, if any. It reads the
// session's own stream and records nothing: the session is the caller's, not audit data.
func (a *App) AuditSessionOf(ctx context.Context, userID string) (AuditSessionInfo, bool, error) {
	if err := domain.ValidateID("user id", userID); err != nil {
		return AuditSessionInfo{}, false, err
	}
	s := domain.NewAuditSession(userID)
	if _, err := a.x.load(ctx, s); err != nil {
		return AuditSessionInfo{}, false, err
	}
	id, opened, expires, ok := s.Current(a.x.d.Clock.Now())
	return AuditSessionInfo{ID: id, OpenedAt: opened, ExpiresAt: expires}, ok, nil
}
