package domain

import (
	"time"
	"unicode/utf8"
)

// DefaultAuditSessionTTL is how long an audit session stays open: reading audit data (the
// audit log, model invocations, exports, as-of history) within it needs no new reason.
const DefaultAuditSessionTTL = time.Hour

// StreamPrefixAuditSession prefixes a user's audit-session stream, "auditsession-<userID>":
// the sessions the user opened, one event each.
const StreamPrefixAuditSession = "auditsession-"

// ReasonNoAuditSession is the reason of a read of audit data refused because the reader
// gave no reason and has no open audit session.
const ReasonNoAuditSession = "no open audit session"

// ValidateReason checks the reason that opens an audit session: 10 to 500 characters of
// valid UTF-8.
func ValidateReason(s string) error {
	if n := utf8.RuneCountInString(s); n < 10 || n > 500 || !utf8.ValidString(s) {
		return E(KindInvalid, "reason.validate", "a reason for reading audit data must be 10 to 500 characters")
	}
	return nil
}

// AuditSessionOpened records that a user opened a time-boxed audit session with a reason,
// sealed under the organisation (like every justification).
type AuditSessionOpened struct {
	SessionID      string    `json:"sessionId"`
	OrganizationID string    `json:"organizationId"`
	UserID         string    `json:"userId"`
	Reason         Sealed    `json:"reason"`
	OpenedAt       time.Time `json:"openedAt"`
	ExpiresAt      time.Time `json:"expiresAt"`
}

// EventName implements Event.
func (AuditSessionOpened) EventName() string { return "audit_session.opened.v1" }

// AuditSession is a user's audit sessions: the last one opened is the one that counts.
type AuditSession struct {
	root
	session             string
	openedAt, expiresAt time.Time
}

// NewAuditSession returns the empty audit-session aggregate of a user.
func NewAuditSession(userID string) *AuditSession {
	return &AuditSession{root: newRoot(StreamPrefixAuditSession, userID)}
}

// Open records a new session of org's user, opened at now for ttl, with a reason.
func (a *AuditSession) Open(org, sessionID, reason string, now time.Time, ttl time.Duration) error {
	if err := ValidateReason(reason); err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = DefaultAuditSessionTTL
	}
	now = now.UTC()
	record(a, AuditSessionOpened{SessionID: sessionID, OrganizationID: org, UserID: a.id,
		Reason: Seal(reason, OrganizationSubject(org)), OpenedAt: now, ExpiresAt: now.Add(ttl)})
	return nil
}

// OpenAt reports whether a session is open at t, and its id.
func (a *AuditSession) OpenAt(t time.Time) (string, bool) {
	if a.session == "" || !t.Before(a.expiresAt) {
		return "", false
	}
	return a.session, true
}

// Current returns the session open at t: its id and when it opened and ends.
func (a *AuditSession) Current(t time.Time) (id string, openedAt, expiresAt time.Time, ok bool) {
	id, ok = a.OpenAt(t)
	if !ok {
		return "", time.Time{}, time.Time{}, false
	}
	return id, a.openedAt, a.expiresAt, true
}

func (a *AuditSession) apply(e Event) {
	if e, ok := e.(AuditSessionOpened); ok {
		a.org, a.session, a.openedAt, a.expiresAt = e.OrganizationID, e.SessionID, e.OpenedAt, e.ExpiresAt
	}
}

// HistoryViewed records an as-of read: which question (HistoryQuery), about what, at
// which instant, and the audit session it was read in.
type HistoryViewed struct {
	Viewer    string    `json:"viewer"`
	Query     string    `json:"query"`
	TargetID  string    `json:"targetId,omitempty"`
	AsOf      time.Time `json:"asOf"`
	SessionID string    `json:"sessionId,omitempty"`
	ViewedAt  time.Time `json:"viewedAt"`
}

// EventName implements Event.
func (HistoryViewed) EventName() string { return "access.history_viewed.v1" }

// The questions an as-of read asks (HistoryViewed.Query).
const (
	HistorySpaceAccess = "space_access"
	HistoryUserAccess  = "user_access"
	HistorySettings    = "settings"
	HistorySpace       = "space"
	HistoryAssistant   = "assistant"
)

// ValidateHistoryQuery checks a HistoryViewed query name.
func ValidateHistoryQuery(q string) error {
	switch q {
	case HistorySpaceAccess, HistoryUserAccess, HistorySettings, HistorySpace, HistoryAssistant:
		return nil
	}
	return Errorf(KindInvalid, "history.validate", "unknown as-of question %q", q)
}
