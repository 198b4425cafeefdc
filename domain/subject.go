package domain

import (
	"strings"
	"time"
)

// SubjectKind names the kind of a data subject: the owner of a data-encryption key in the
// keyring. Destroying a subject's key makes every field that depends on it unreadable.
type SubjectKind string

// The subject kinds. Their string forms are stored in events and in the key store: never
// change them.
const (
	SubjectUser         SubjectKind = "user"
	SubjectDocument     SubjectKind = "document"
	SubjectConversation SubjectKind = "conversation"
	SubjectSpace        SubjectKind = "space"
	SubjectOrganization SubjectKind = "organization"
	// SubjectRetention is a retention bucket: one assistant's messages of one UTC day, so
	// that retention destroys one key per day instead of rewriting events.
	SubjectRetention SubjectKind = "retention"
	// SubjectModelLog is a model-log bucket: one organisation's model calls of one UTC day.
	SubjectModelLog SubjectKind = "modellog"
	// SubjectAuditLog is an audit-log bucket: the readable detail of one organisation's
	// audit entries of one UTC day. Audit retention destroys it; the entries' pseudonymous
	// skeleton (ids, action, time, outcome) stays.
	SubjectAuditLog SubjectKind = "auditlog"
	// SubjectAssistant names an assistant as the subject of an erasure order or a legal
	// hold. It owns no key (an assistant's fields are sealed under its space), so it is not
	// a keyring subject: Valid reports false for it.
	SubjectAssistant SubjectKind = "assistant"
)

// Valid reports whether k is one of the known subject kinds.
func (k SubjectKind) Valid() bool {
	switch k {
	case SubjectUser, SubjectDocument, SubjectConversation, SubjectSpace, SubjectOrganization,
		SubjectRetention, SubjectModelLog, SubjectAuditLog:
		return true
	}
	return false
}

// bucketed reports whether the kind's id is "<uuid>/<YYYY-MM-DD>".
func (k SubjectKind) bucketed() bool {
	return k == SubjectRetention || k == SubjectModelLog || k == SubjectAuditLog
}

// Subject identifies one data subject. ID is a canonical (lower-case, hyphenated) UUID; for
// retention and model-log buckets it is "<uuid>/<YYYY-MM-DD>" with the day in UTC.
type Subject struct {
	Kind SubjectKind
	ID   string
}

// UserSubject returns the subject of a user; id is a UUID and is lower-cased.
func UserSubject(id string) Subject { return Subject{SubjectUser, strings.ToLower(id)} }

// DocumentSubject returns the subject of a document; id is a UUID and is lower-cased.
func DocumentSubject(id string) Subject { return Subject{SubjectDocument, strings.ToLower(id)} }

// ConversationSubject returns the subject of a conversation; id is a UUID and is lower-cased.
func ConversationSubject(id string) Subject {
	return Subject{SubjectConversation, strings.ToLower(id)}
}

// SpaceSubject returns the subject of a space; id is a UUID and is lower-cased.
func SpaceSubject(id string) Subject { return Subject{SubjectSpace, strings.ToLower(id)} }

// OrganizationSubject returns the subject of an organisation; id is a UUID and is lower-cased.
func OrganizationSubject(id string) Subject {
	return Subject{SubjectOrganization, strings.ToLower(id)}
}

// RetentionBucket returns the retention bucket of an assistant for the UTC day of day.
func RetentionBucket(assistantID string, day time.Time) Subject {
	return Subject{SubjectRetention, strings.ToLower(assistantID) + "/" + day.UTC().Format(time.DateOnly)}
}

// ModelLogBucket returns the model-log bucket of an organisation for the UTC day of day.
func ModelLogBucket(orgID string, day time.Time) Subject {
	return Subject{SubjectModelLog, strings.ToLower(orgID) + "/" + day.UTC().Format(time.DateOnly)}
}

// AuditBucket returns the audit-log bucket of an organisation for the UTC day of day.
func AuditBucket(orgID string, day time.Time) Subject {
	return Subject{SubjectAuditLog, strings.ToLower(orgID) + "/" + day.UTC().Format(time.DateOnly)}
}

// String returns the canonical form "kind:id", e.g. "user:0b0f…". It is the subject's key in
// the key store and its form on the wire.
func (s Subject) String() string { return string(s.Kind) + ":" + s.ID }

// Validate reports whether s is a known kind with a canonical id. The keyring refuses
// subjects that do not validate, so one subject can never have two spellings (and two keys).
func (s Subject) Validate() error {
	const op = "subject.validate"
	if !s.Kind.Valid() {
		return Errorf(KindInvalid, op, "unknown subject kind %q", string(s.Kind))
	}
	id := s.ID
	if s.Kind.bucketed() {
		i := strings.IndexByte(id, '/')
		if i < 0 {
			return Errorf(KindInvalid, op, "%s subject id must be <uuid>/<YYYY-MM-DD>", s.Kind)
		}
		day := id[i+1:]
		t, err := time.Parse(time.DateOnly, day)
		if err != nil || t.Format(time.DateOnly) != day {
			return Errorf(KindInvalid, op, "%s subject id must end in a YYYY-MM-DD day", s.Kind)
		}
		id = id[:i]
	}
	if !canonicalUUID(id) {
		return Errorf(KindInvalid, op, "%s subject id must be a lower-case UUID", s.Kind)
	}
	return nil
}

// ParseSubject parses the canonical form written by String and validates it.
func ParseSubject(text string) (Subject, error) {
	kind, id, ok := strings.Cut(text, ":")
	if !ok {
		return Subject{}, E(KindInvalid, "subject.parse", "subject must be kind:id")
	}
	s := Subject{SubjectKind(kind), id}
	if err := s.Validate(); err != nil {
		return Subject{}, err
	}
	return s, nil
}

// canonicalUUID reports whether s is a UUID in lower-case 8-4-4-4-12 form.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
