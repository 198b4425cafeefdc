package domain

import (
	"errors"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// StreamPrefixLegalHolds is the prefix of an organisation's legal-hold stream,
// "legalholds-<organisation id>": one stream holds every hold of the organisation, so that
// one read answers whether an erasure or a retention destruction meets a hold.
const StreamPrefixLegalHolds = "legalholds-"

// LegalHoldPlaced records a legal hold on a space, document, conversation or user: while it
// lasts, neither retention nor erasure may destroy the subject (archiving law). SpaceID is
// the subject's space (empty for users and spaces themselves).
type LegalHoldPlaced struct {
	HoldID         string      `json:"holdId"`
	OrganizationID string      `json:"organizationId"`
	SubjectType    SubjectKind `json:"subjectType"`
	SubjectID      string      `json:"subjectId"`
	SpaceID        string      `json:"spaceId,omitempty"`
	Reason         string      `json:"reason"`
	PlacedBy       string      `json:"placedBy"`
	PlacedAt       time.Time   `json:"placedAt"`
}

// EventName implements Event.
func (LegalHoldPlaced) EventName() string { return "legal_hold.placed.v1" }

// LegalHoldLifted records that a legal hold ended.
type LegalHoldLifted struct {
	HoldID   string    `json:"holdId"`
	Reason   string    `json:"reason"`
	LiftedBy string    `json:"liftedBy"`
	LiftedAt time.Time `json:"liftedAt"`
}

// EventName implements Event.
func (LegalHoldLifted) EventName() string { return "legal_hold.lifted.v1" }

// LegalHold is one active hold.
type LegalHold struct {
	ID       string    `json:"holdId"`
	Subject  Subject   `json:"subject"`
	SpaceID  string    `json:"spaceId,omitempty"`
	Reason   string    `json:"reason"`
	PlacedBy string    `json:"placedBy"`
	PlacedAt time.Time `json:"placedAt"`
}

// LegalHolds is an organisation's legal holds.
type LegalHolds struct {
	root
	active map[string]LegalHold
}

// NewLegalHolds returns the empty legal-hold aggregate of organisation org.
func NewLegalHolds(org string) *LegalHolds {
	h := &LegalHolds{root: newRoot(StreamPrefixLegalHolds, org), active: map[string]LegalHold{}}
	h.org = org // the organisation's holds exist with it: placing the first creates the stream
	return h
}

// HoldableKind reports whether subjects of kind k can be held.
func HoldableKind(k SubjectKind) bool {
	switch k {
	case SubjectSpace, SubjectDocument, SubjectConversation, SubjectUser:
		return true
	}
	return false
}

func checkReason(op, reason string) error {
	n := utf8.RuneCountInString(strings.TrimSpace(reason))
	if n == 0 || n > MaxLegalBasisRunes {
		return Errorf(KindInvalid, op, "a reason of 1 to %d characters is required", MaxLegalBasisRunes)
	}
	return nil
}

// Place records a hold on subject (of space, empty for users and spaces) by by, for reason.
// A subject already held is a conflict.
func (h *LegalHolds) Place(holdID string, subject Subject, space, reason, by string, now time.Time) error {
	const op = "legal_hold.place"
	if err := ValidateID("hold id", holdID); err != nil {
		return err
	}
	if !HoldableKind(subject.Kind) {
		return E(KindInvalid, op, "a hold is placed on a space, document, conversation or user")
	}
	if err := ValidateID("subject id", subject.ID); err != nil {
		return err
	}
	if err := checkReason(op, reason); err != nil {
		return err
	}
	if _, ok := h.active[holdID]; ok {
		return errExists(op, "legal hold")
	}
	if _, held := h.HoldOn(subject); held {
		return E(KindConflict, op, "the subject is already under a legal hold")
	}
	record(h, LegalHoldPlaced{HoldID: holdID, OrganizationID: h.id, SubjectType: subject.Kind, SubjectID: subject.ID,
		SpaceID: space, Reason: strings.TrimSpace(reason), PlacedBy: by, PlacedAt: now.UTC()})
	return nil
}

// Lift ends an active hold.
func (h *LegalHolds) Lift(holdID, reason, by string, now time.Time) error {
	const op = "legal_hold.lift"
	if _, ok := h.active[holdID]; !ok {
		return errGone(op, "active legal hold")
	}
	if err := checkReason(op, reason); err != nil {
		return err
	}
	record(h, LegalHoldLifted{HoldID: holdID, Reason: strings.TrimSpace(reason), LiftedBy: by, LiftedAt: now.UTC()})
	return nil
}

// HoldOn returns the active hold placed on subject itself.
func (h *LegalHolds) HoldOn(subject Subject) (LegalHold, bool) {
	for _, x := range h.active {
		if x.Subject == subject {
			return x, true
		}
	}
	return LegalHold{}, false
}

// Blocking returns the active holds that forbid destroying subject: a hold on the subject,
// on its space (space, when given), on its owner (owner, a user id, when given), and for a
// space or organisation every hold inside it.
func (h *LegalHolds) Blocking(subject Subject, space, owner string) []LegalHold {
	var out []LegalHold
	for _, x := range h.active {
		switch {
		case x.Subject == subject,
			space != "" && x.Subject == SpaceSubject(space),
			owner != "" && x.Subject == UserSubject(owner),
			subject.Kind == SubjectSpace && x.SpaceID == subject.ID,
			subject.Kind == SubjectOrganization:
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Active returns the active holds, by id.
func (h *LegalHolds) Active() []LegalHold {
	out := make([]LegalHold, 0, len(h.active))
	for _, x := range h.active {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ErrUnderLegalHold is the cause of every refusal because of a legal hold: callers test for
// it with errors.Is; the GraphQL edge reports it as extensions.reason LEGAL_HOLD.
var ErrUnderLegalHold = errors.New("under legal hold")

// ErrLegalHold returns the error of a destruction refused by holds: KindConflict wrapping
// ErrUnderLegalHold, naming the hold ids.
func ErrLegalHold(op string, holds []LegalHold) error {
	ids := make([]string, len(holds))
	for i, x := range holds {
		ids[i] = x.ID
	}
	return Wrap(KindConflict, op, ErrUnderLegalHold, "the subject is under legal hold ("+strings.Join(ids, ", ")+
		"): retention and erasure are refused until it is lifted")
}

func (h *LegalHolds) apply(e Event) {
	switch e := e.(type) {
	case LegalHoldPlaced:
		h.org = e.OrganizationID
		h.active[e.HoldID] = LegalHold{ID: e.HoldID, Subject: Subject{e.SubjectType, e.SubjectID}, SpaceID: e.SpaceID,
			Reason: e.Reason, PlacedBy: e.PlacedBy, PlacedAt: e.PlacedAt}
	case LegalHoldLifted:
		delete(h.active, e.HoldID)
	}
}
