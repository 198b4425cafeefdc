package domain

import (
	"crypto/sha256"
	"fmt"
)

// StreamPrefixEmailReservation is the prefix of the e-mail reservation streams: one stream
// per (organisation, normalised e-mail address), named by EmailReservationID.
const StreamPrefixEmailReservation = "email-"

// EmailReservationID returns the stream id of the reservation of email (normalised with
// NewEmail) in org: a UUID-shaped digest, so the address itself never names a stream.
func EmailReservationID(org, email string) string {
	h := sha256.Sum256([]byte(org + "\x00" + email))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// EmailReservation makes e-mail addresses unique within an organisation: a user is
// registered only once the reservation of their address names them (the append expects the
// stream's revision, so two registrations racing for one address cannot both win).
type EmailReservation struct {
	root
	user string
}

// EmailReserved records that an address of the organisation belongs to a user. The address
// is not in the event: the stream's id is its digest.
type EmailReserved struct {
	OrganizationID string `json:"organizationId"`
	UserID         string `json:"userId"`
}

// EventName implements Event.
func (EmailReserved) EventName() string { return "email.reserved.v1" }

// NewEmailReservation returns the empty reservation of email in org. The caller passes
// the address normalised by NewEmail.
func NewEmailReservation(org, email string) *EmailReservation {
	return &EmailReservation{root: newRoot(StreamPrefixEmailReservation, EmailReservationID(org, email))}
}

// Reserve records that the address belongs to user of org; reserving it again for the
// same user records nothing; for another user it is a conflict.
func (r *EmailReservation) Reserve(org, user string) error {
	const op = "email.reserve"
	switch r.user {
	case user:
		return nil
	case "":
		record(r, EmailReserved{OrganizationID: org, UserID: user})
		return nil
	}
	return E(KindConflict, op, "a user with this e-mail address already exists in the organisation")
}

func (r *EmailReservation) apply(e Event) {
	if e, ok := e.(EmailReserved); ok {
		r.user, r.org = e.UserID, e.OrganizationID
	}
}

// Holder returns the user the address is reserved to, empty when none.
func (r *EmailReservation) Holder() string { return r.user }
