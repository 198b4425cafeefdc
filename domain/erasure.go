package domain

import "time"

// The erasure states.
const (
	ErasurePendingState   = "PENDING"
	ErasureRestoredState  = "RESTORED"
	ErasureCompletedState = "COMPLETED"
)

// Erasure is an order to crypto-shred a data subject: requested (data hidden), restorable
// during the grace window, then completed (key material destroyed).
type Erasure struct {
	root
	kind        SubjectKind
	subject     string
	effectiveAt time.Time
	state       string
}

// ErasureRequested records an erasure order. EffectiveAt is when it may complete.
type ErasureRequested struct {
	ErasureID      string      `json:"erasureId"`
	OrganizationID string      `json:"organizationId"`
	SubjectType    SubjectKind `json:"subjectType"`
	SubjectID      string      `json:"subjectId"`
	GraceDays      int         `json:"graceDays"`
	RequestedBy    string      `json:"requestedBy"`
	RequestedAt    time.Time   `json:"requestedAt"`
	EffectiveAt    time.Time   `json:"effectiveAt"`
}

// EventName implements Event.
func (ErasureRequested) EventName() string { return "erasure.requested.v1" }

// ErasureRestored records that a pending erasure was undone within its grace window.
type ErasureRestored struct {
	ErasureID  string    `json:"erasureId"`
	RestoredBy string    `json:"restoredBy"`
	RestoredAt time.Time `json:"restoredAt"`
}

// EventName implements Event.
func (ErasureRestored) EventName() string { return "erasure.restored.v1" }

// ErasureCompleted records that the subject's key material is to be destroyed for good.
type ErasureCompleted struct {
	ErasureID   string      `json:"erasureId"`
	SubjectType SubjectKind `json:"subjectType"`
	SubjectID   string      `json:"subjectId"`
	CompletedBy string      `json:"completedBy"`
	CompletedAt time.Time   `json:"completedAt"`
}

// EventName implements Event.
func (ErasureCompleted) EventName() string { return "erasure.completed.v1" }

// NewErasure returns an empty erasure aggregate with the given id.
func NewErasure(id string) *Erasure { return &Erasure{root: newRoot(StreamPrefixErasure, id)} }

// ErasableKind reports whether subjects of kind k can be ordered erased directly (buckets
// expire by retention instead).
func ErasableKind(k SubjectKind) bool {
	switch k {
	case SubjectUser, SubjectDocument, SubjectConversation, SubjectSpace, SubjectOrganization:
		return true
	}
	return false
}

// Request records an erasure order of org for a subject, with a grace window of 0 to
// MaxErasureGraceDays days.
func (x *Erasure) Request(org string, kind SubjectKind, subject string, graceDays int, by string, now time.Time) error {
	const op = "erasure.request"
	if x.created() {
		return errExists(op, "erasure")
	}
	if err := ValidateID("erasure id", x.id); err != nil {
		return err
	}
	if !ErasableKind(kind) {
		return E(KindInvalid, op, "subject type must be user, document, conversation, space or organization")
	}
	if err := ValidateID("subject id", subject); err != nil {
		return err
	}
	if graceDays < 0 || graceDays > MaxErasureGraceDays {
		return Errorf(KindInvalid, op, "grace window must be 0 to %d days", MaxErasureGraceDays)
	}
	now = now.UTC()
	record(x, ErasureRequested{ErasureID: x.id, OrganizationID: org, SubjectType: kind, SubjectID: subject,
		GraceDays: graceDays, RequestedBy: by, RequestedAt: now, EffectiveAt: now.AddDate(0, 0, graceDays)})
	return nil
}

// Restore undoes a pending erasure before it takes effect.
func (x *Erasure) Restore(by string, now time.Time) error {
	const op = "erasure.restore"
	if !x.created() {
		return errGone(op, "erasure")
	}
	if x.state != ErasurePendingState {
		return Errorf(KindConflict, op, "erasure is %s, not pending", x.state)
	}
	if !now.Before(x.effectiveAt) {
		return E(KindConflict, op, "the grace window has passed")
	}
	record(x, ErasureRestored{ErasureID: x.id, RestoredBy: by, RestoredAt: now.UTC()})
	return nil
}

// Complete records that the erasure takes effect; it may not before EffectiveAt.
func (x *Erasure) Complete(by string, now time.Time) error {
	const op = "erasure.complete"
	if !x.created() {
		return errGone(op, "erasure")
	}
	if x.state != ErasurePendingState {
		return Errorf(KindConflict, op, "erasure is %s, not pending", x.state)
	}
	if now.Before(x.effectiveAt) {
		return E(KindConflict, op, "the grace window has not passed yet")
	}
	record(x, ErasureCompleted{ErasureID: x.id, SubjectType: x.kind, SubjectID: x.subject, CompletedBy: by, CompletedAt: now.UTC()})
	return nil
}

// State returns PENDING, RESTORED or COMPLETED ("" before the request).
func (x *Erasure) State() string { return x.state }

// Subject returns the subject of the erasure.
func (x *Erasure) Subject() Subject { return Subject{Kind: x.kind, ID: x.subject} }

// EffectiveAt returns when the erasure may complete.
func (x *Erasure) EffectiveAt() time.Time { return x.effectiveAt }

func (x *Erasure) apply(e Event) {
	switch e := e.(type) {
	case ErasureRequested:
		x.org, x.kind, x.subject = e.OrganizationID, e.SubjectType, e.SubjectID
		x.effectiveAt, x.state = e.EffectiveAt, ErasurePendingState
	case ErasureRestored:
		x.state = ErasureRestoredState
	case ErasureCompleted:
		x.state = ErasureCompletedState
	}
}
