package domain

import (
	"strings"
	"time"
)

// The kinds of a data subject's request this platform tracks as a case.
const (
	// SubjectRequestAccess is a request for access to one's data (GDPR Art. 15).
	SubjectRequestAccess = "ACCESS"
	// SubjectRequestPortability is a request for one's data in a portable format (Art. 20).
	SubjectRequestPortability = "PORTABILITY"
)

// SubjectRequestDue returns the deadline of a request received at received: one month
// later (GDPR Art. 12(3)), the same day of the next month (or its last day).
func SubjectRequestDue(received time.Time) time.Time {
	r := received.UTC()
	due := r.AddDate(0, 1, 0)
	// AddDate normalises 31 January + 1 month to 3 March: the month's last day instead.
	if due.Day() != r.Day() {
		due = due.AddDate(0, 0, -due.Day())
	}
	return due
}

// SubjectRequestOpened is recorded when a data subject's request is received: a case with its
// deadline, until an export answers it (SubjectDataExported with its id).
type SubjectRequestOpened struct {
	RequestID      string    `json:"requestId"`
	OrganizationID string    `json:"organizationId"`
	UserID         string    `json:"userId"`
	Kind           string    `json:"kind"`
	ReceivedAt     time.Time `json:"receivedAt"`
	DueAt          time.Time `json:"dueAt"`
	OpenedBy       string    `json:"openedBy"`
}

// EventName implements Event.
func (SubjectRequestOpened) EventName() string { return "user.subject_request_opened.v1" }

// SubjectDataExported is recorded in the access log when a user's data was exported for them
// (exportSubjectData, `arkiv export subject`): by whom, for which request case, and the
// SHA-256 of the archive handed out.
type SubjectDataExported struct {
	RequestID     string    `json:"requestId"`
	UserID        string    `json:"userId"`
	Exporter      string    `json:"exporter"`
	ArchiveSHA256 string    `json:"archiveSha256"`
	Records       int       `json:"records"`
	ExportedAt    time.Time `json:"exportedAt"`
}

// EventName implements Event.
func (SubjectDataExported) EventName() string { return "access.subject_data_exported.v1" }

// OpenSubjectRequest records that the user's request of kind was received at receivedAt,
// opened by by (an Admin, or the user). Requests of deactivated users are opened too: their
// rights outlast their account.
func (u *User) OpenSubjectRequest(requestID, kind string, receivedAt time.Time, by string) error {
	const op = "user.open_subject_request"
	if !u.created() {
		return errGone(op, "user")
	}
	if err := ValidateID("request id", requestID); err != nil {
		return err
	}
	kind = strings.ToUpper(kind)
	if kind != SubjectRequestAccess && kind != SubjectRequestPortability {
		return E(KindInvalid, op, "request kind must be ACCESS or PORTABILITY")
	}
	if receivedAt.IsZero() {
		return E(KindInvalid, op, "the time the request was received is required")
	}
	record(u, SubjectRequestOpened{RequestID: requestID, OrganizationID: u.org, UserID: u.id, Kind: kind,
		ReceivedAt: receivedAt.UTC(), DueAt: SubjectRequestDue(receivedAt), OpenedBy: by})
	return nil
}

// OrganizationExported is recorded in the access log when the whole organisation was
// exported (exportOrganization, `arkiv export organization`): by whom, how many events, and
// the SHA-256 of the export's manifest.json.
type OrganizationExported struct {
	Exporter       string    `json:"exporter"`
	Events         int64     `json:"events"`
	ManifestSHA256 string    `json:"manifestSha256"`
	ExportedAt     time.Time `json:"exportedAt"`
}

// EventName implements Event.
func (OrganizationExported) EventName() string { return "access.organization_exported.v1" }
