package domain

import (
	"time"
	"unicode/utf8"
)

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
	space       string
	origin      Command
	basis       string
	certified   bool
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

// ErasureBasisRecorded records why and through what an erasure was ordered: the command
// that gave the order (RequestErasure, DeleteDocument…), the legal basis stated for it and
// the space the subject belongs to (empty for users and organisations). It is appended
// with erasure.requested.v1, in the same append.
type ErasureBasisRecorded struct {
	ErasureID  string  `json:"erasureId"`
	Origin     Command `json:"origin"`
	LegalBasis string  `json:"legalBasis"`
	SpaceID    string  `json:"spaceId,omitempty"`
}

// EventName implements Event.
func (ErasureBasisRecorded) EventName() string { return "erasure.basis_recorded.v1" }

// ErasureCertified records the certificate of a completed erasure: Certificate is the
// certificate's canonical JSON, as a C2SP signed note when Signed (signed with the ledger
// key), so that it verifies offline.
type ErasureCertified struct {
	ErasureID      string    `json:"erasureId"`
	OrganizationID string    `json:"organizationId"`
	Certificate    string    `json:"certificate"`
	Signed         bool      `json:"signed"`
	CertifiedAt    time.Time `json:"certifiedAt"`
}

// EventName implements Event.
func (ErasureCertified) EventName() string { return "erasure.certified.v1" }

// MaxLegalBasisRunes is the longest legal basis accepted for an erasure or a legal hold.
const MaxLegalBasisRunes = 500

// ErasureOrder is what an erasure order says besides its subject: who gave it through which
// command, on what legal basis, and the subject's space.
type ErasureOrder struct {
	Origin     Command
	LegalBasis string
	SpaceID    string
}

// NewErasure returns an empty erasure aggregate with the given id.
func NewErasure(id string) *Erasure { return &Erasure{root: newRoot(StreamPrefixErasure, id)} }

// ErasableKind reports whether subjects of kind k can be ordered erased directly (buckets
// expire by retention instead).
func ErasableKind(k SubjectKind) bool {
	switch k {
	case SubjectUser, SubjectDocument, SubjectConversation, SubjectSpace, SubjectOrganization, SubjectAssistant:
		return true
	}
	return false
}

// Request records an erasure order of org for a subject, with a grace window of 0 to
// MaxErasureGraceDays days.
func (x *Erasure) Request(org string, kind SubjectKind, subject string, graceDays int, by string, now time.Time) error {
	return x.Order(org, kind, subject, graceDays, by, now, ErasureOrder{Origin: CmdRequestErasure})
}

// Order records an erasure order like Request, with the order's origin, legal basis and
// space (erasure.basis_recorded.v1 in the same append).
func (x *Erasure) Order(org string, kind SubjectKind, subject string, graceDays int, by string, now time.Time, o ErasureOrder) error {
	const op = "erasure.request"
	if utf8.RuneCountInString(o.LegalBasis) > MaxLegalBasisRunes {
		return Errorf(KindInvalid, op, "legal basis must be at most %d characters", MaxLegalBasisRunes)
	}
	if o.SpaceID != "" {
		if err := ValidateID("space id", o.SpaceID); err != nil {
			return err
		}
	}
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
	if o.Origin == "" {
		o.Origin = CmdRequestErasure
	}
	record(x, ErasureBasisRecorded{ErasureID: x.id, Origin: o.Origin, LegalBasis: o.LegalBasis, SpaceID: o.SpaceID})
	return nil
}

// Certify records the certificate of a completed erasure, once.
func (x *Erasure) Certify(certificate string, signed bool, now time.Time) error {
	const op = "erasure.certify"
	if !x.created() {
		return errGone(op, "erasure")
	}
	if x.state != ErasureCompletedState {
		return Errorf(KindConflict, op, "erasure is %s, not completed", x.state)
	}
	if x.certified {
		return E(KindConflict, op, "erasure is already certified")
	}
	if certificate == "" {
		return E(KindInvalid, op, "empty certificate")
	}
	record(x, ErasureCertified{ErasureID: x.id, OrganizationID: x.org, Certificate: certificate, Signed: signed, CertifiedAt: now.UTC()})
	return nil
}

// SpaceIDOfSubject returns the space of the erased subject as the order recorded it.
func (x *Erasure) SpaceIDOfSubject() string { return x.space }

// Origin returns the command that ordered the erasure.
func (x *Erasure) Origin() Command { return x.origin }

// LegalBasis returns the legal basis stated for the erasure.
func (x *Erasure) LegalBasis() string { return x.basis }

// Certified reports whether the erasure's certificate is recorded.
func (x *Erasure) Certified() bool { return x.certified }

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
	case ErasureBasisRecorded:
		x.space, x.origin, x.basis = e.SpaceID, e.Origin, e.LegalBasis
	case ErasureCertified:
		x.certified = true
	}
}
