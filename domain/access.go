package domain

import (
	"time"
	"unicode/utf8"
)

// Access events are appended to the organisation's access log ("access-<orgID>"), not to an
// aggregate: they record who read or was refused what.

// AccessDenied records a refused command: who, what and why. Reason is a fixed phrase,
// never personal data.
type AccessDenied struct {
	Actor                string    `json:"actor"`
	Command              Command   `json:"command"`
	TargetStream         string    `json:"targetStream"`
	TargetOrganizationID string    `json:"targetOrganizationId,omitempty"`
	OrgRole              OrgRole   `json:"orgRole"`
	SpaceRole            SpaceRole `json:"spaceRole,omitempty"`
	Reason               string    `json:"reason"`
	DeniedAt             time.Time `json:"deniedAt"`
}

// EventName implements Event.
func (AccessDenied) EventName() string { return "access.denied.v1" }

// The reasons of access denials.
const (
	ReasonRole         = "role does not permit the command"
	ReasonOrganization = "target belongs to another organisation"
	ReasonNotOwner     = "only the owner may do this"
	ReasonInactive     = "user is deactivated"
	ReasonLegalHold    = "the subject is under legal hold"
	ReasonOversight    = "an organisation Admin's access to a space is changed only by an organisation Admin"
)

// DocumentViewed records that a user read a document.
type DocumentViewed struct {
	Viewer     string    `json:"viewer"`
	DocumentID string    `json:"documentId"`
	SpaceID    string    `json:"spaceId"`
	ViewedAt   time.Time `json:"viewedAt"`
}

// EventName implements Event.
func (DocumentViewed) EventName() string { return "access.document_viewed.v1" }

// AuditLogViewed records a read of the audit log, with the reader's justification sealed
// under the organisation.
type AuditLogViewed struct {
	Viewer        string    `json:"viewer"`
	Justification Sealed    `json:"justification"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	ViewedAt      time.Time `json:"viewedAt"`
}

// EventName implements Event.
func (AuditLogViewed) EventName() string { return "access.audit_log_viewed.v1" }

// AuditIntegrityViewed records a read of the verifiable log's state or of an inclusion
// proof (What is "integrity" or "proof"; EventID the proven event).
type AuditIntegrityViewed struct {
	Viewer   string    `json:"viewer"`
	What     string    `json:"what"`
	EventID  string    `json:"eventId,omitempty"`
	ViewedAt time.Time `json:"viewedAt"`
}

// EventName implements Event.
func (AuditIntegrityViewed) EventName() string { return "access.audit_integrity_viewed.v1" }

// AuditLogExported records an export of the audit log.
type AuditLogExported struct {
	Exporter      string    `json:"exporter"`
	Justification Sealed    `json:"justification"`
	Format        string    `json:"format"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	ExportedAt    time.Time `json:"exportedAt"`
}

// EventName implements Event.
func (AuditLogExported) EventName() string { return "access.audit_log_exported.v1" }

// DataExported records an export of a data subject's data (e.g. for a subject access
// request).
type DataExported struct {
	Exporter      string      `json:"exporter"`
	Justification Sealed      `json:"justification"`
	SubjectType   SubjectKind `json:"subjectType"`
	SubjectID     string      `json:"subjectId"`
	Format        string      `json:"format"`
	ExportedAt    time.Time   `json:"exportedAt"`
}

// EventName implements Event.
func (DataExported) EventName() string { return "access.data_exported.v1" }

// The export formats.
const (
	FormatJSONL = "JSONL"
	FormatCSV   = "CSV"
	FormatOCSF  = "OCSF"
)

// ValidateJustification checks the free-text reason given for reading or exporting audit
// data: 10 to 1000 characters.
func ValidateJustification(s string) error {
	if n := utf8.RuneCountInString(s); n < 10 || n > 1000 || !utf8.ValidString(s) {
		return E(KindInvalid, "justification.validate", "justification must be 10 to 1000 characters")
	}
	return nil
}

// ValidateExportFormat checks an export format.
func ValidateExportFormat(f string) error {
	if f != FormatJSONL && f != FormatCSV && f != FormatOCSF {
		return E(KindInvalid, "export.validate", "format must be JSONL, CSV or OCSF")
	}
	return nil
}

// ValidatePeriod checks a [from, to) period: from before to.
func ValidatePeriod(from, to time.Time) error {
	if !from.Before(to) {
		return E(KindInvalid, "period.validate", "period start must be before its end")
	}
	return nil
}

// ModelInvocationsViewed records a read of what was sent to models, with the filters used
// (ids only; empty means any) and the reader's justification, when given, sealed under the
// organisation.
type ModelInvocationsViewed struct {
	Viewer        string    `json:"viewer"`
	Justification Sealed    `json:"justification,omitempty"`
	AssistantID   string    `json:"assistantId,omitempty"`
	SpaceID       string    `json:"spaceId,omitempty"`
	UserID        string    `json:"userId,omitempty"`
	From          time.Time `json:"from,omitzero"`
	To            time.Time `json:"to,omitzero"`
	ViewedAt      time.Time `json:"viewedAt"`
}

// EventName implements Event.
func (ModelInvocationsViewed) EventName() string { return "access.model_invocations_viewed.v1" }

// LoginFailed records a refused local login in the organisation's access log. It never
// holds the login name or the password: LoginDigest is the keyed HMAC-SHA-256 of the
// organisation and the normalised login that authentication uses, and the client address
// is kept only as RemoteIPDigest, a keyed pseudonym (see RecordLogin in commands), so
// attempts from one address can be correlated without storing the address. Reason is a
// fixed token (e.g. bad_password, unknown_login, locked_out, mfa_required).
type LoginFailed struct {
	OrganizationID string    `json:"organizationId"`
	LoginDigest    string    `json:"loginDigest"`
	Reason         string    `json:"reason"`
	RemoteIPDigest string    `json:"remoteIpDigest,omitempty"`
	FailedAt       time.Time `json:"failedAt"`
}

// EventName implements Event.
func (LoginFailed) EventName() string { return "access.login_failed.v1" }

// LoginSucceeded records a successful local login of a user, with the same digests as
// LoginFailed.
type LoginSucceeded struct {
	OrganizationID string    `json:"organizationId"`
	UserID         string    `json:"userId"`
	LoginDigest    string    `json:"loginDigest"`
	RemoteIPDigest string    `json:"remoteIpDigest,omitempty"`
	SucceededAt    time.Time `json:"succeededAt"`
}

// EventName implements Event.
func (LoginSucceeded) EventName() string { return "access.login_succeeded.v1" }

// EvidenceExported records a DPIA evidence bundle exported for a period: the manifest's
// SHA-256 and the covering checkpoint's tree size and root, so the bundle handed to an
// auditor is itself a leaf of the ledger.
type EvidenceExported struct {
	Exporter       string    `json:"exporter"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	ManifestSHA256 string    `json:"manifestSha256"`
	TreeSize       uint64    `json:"treeSize"`
	Root           string    `json:"root,omitempty"`
	WithNames      bool      `json:"withNames"`
	ExportedAt     time.Time `json:"exportedAt"`
}

// EventName implements Event.
func (EvidenceExported) EventName() string { return "access.evidence_exported.v1" }
