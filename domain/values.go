package domain

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameRunes is the longest name (of an organisation, user, space, assistant or document
// title) accepted.
const MaxNameRunes = 200

// NewName validates a display name or title: trimmed, 1 to MaxNameRunes characters, valid
// UTF-8, no control characters, and none of the invisible characters that make a name read
// differently from what it is (bidirectional overrides and isolates U+202A–U+202E and
// U+2066–U+2069, zero-width and direction marks U+200B–U+200F): "Admins‮" must not pass
// for another name in an audit log. what names the field in the error ("space name").
func NewName(what, s string) (string, error) {
	const op = "name.validate"
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(KindInvalid, op, "%s must not be empty", what)
	}
	if !utf8.ValidString(s) {
		return "", Errorf(KindInvalid, op, "%s must be valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > MaxNameRunes {
		return "", Errorf(KindInvalid, op, "%s must be at most %d characters, got %d", what, MaxNameRunes, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", Errorf(KindInvalid, op, "%s must not contain control characters", what)
		}
		if invisibleFormat(r) {
			return "", Errorf(KindInvalid, op, "%s must not contain bidirectional-override or zero-width characters (U+%04X)", what, r)
		}
	}
	return s, nil
}

// invisibleFormat reports the format characters names refuse: bidirectional embeddings,
// overrides and isolates, zero-width spaces and joiners, and direction marks.
func invisibleFormat(r rune) bool {
	return (r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// NewEmail validates an e-mail address (a bare addr-spec, at most 254 bytes) and lower-cases
// it. The error never repeats the address.
func NewEmail(s string) (string, error) {
	const op = "email.validate"
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return "", E(KindInvalid, op, "e-mail address must be 1 to 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", E(KindInvalid, op, "e-mail address is not valid")
	}
	return strings.ToLower(s), nil
}

// ValidateID checks that id is a canonical lower-case UUID; what names the field.
func ValidateID(what, id string) error {
	if !canonicalUUID(id) {
		return Errorf(KindInvalid, "id.validate", "%s must be a lower-case UUID", what)
	}
	return nil
}

// Classification is an information classification level, e.g. "INTERNAL". Its order comes
// from the organisation's settings.
type Classification string

// The default classification levels, least sensitive first.
const (
	ClassPublic       Classification = "PUBLIC"
	ClassInternal     Classification = "INTERNAL"
	ClassConfidential Classification = "CONFIDENTIAL"
	ClassRestricted   Classification = "RESTRICTED"
)

var levelPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}$`)

// DefaultClassificationLevels returns Public < Internal < Confidential < Restricted.
func DefaultClassificationLevels() []Classification {
	return []Classification{ClassPublic, ClassInternal, ClassConfidential, ClassRestricted}
}

// ModelID identifies a language or embedding model, e.g. "mistral-large-2411".
type ModelID string

var modelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/@-]{0,127}$`)

// NewModelID validates a model id: 1 to 128 characters of a-z, 0-9 and . _ : / @ -,
// starting with a letter or digit.
func NewModelID(s string) (ModelID, error) {
	if !modelPattern.MatchString(s) {
		return "", E(KindInvalid, "model_id.validate", "model id must be 1-128 characters of a-z, 0-9, '.', '_', ':', '/', '@', '-'")
	}
	return ModelID(s), nil
}

// Region is where a model is hosted.
type Region string

// The hosting regions.
const (
	RegionSE     Region = "SE"
	RegionEU     Region = "EU"
	RegionUS     Region = "US"
	RegionOnPrem Region = "ONPREM"
)

// Valid reports whether r is a known region.
func (r Region) Valid() bool {
	return r == RegionSE || r == RegionEU || r == RegionUS || r == RegionOnPrem
}

// InEU reports whether data sent to r stays in the EU (Sweden, the EU, or on premises).
func (r Region) InEU() bool { return r == RegionSE || r == RegionEU || r == RegionOnPrem }

// AllowedModel is one entry of an organisation's model allow-list.
type AllowedModel struct {
	ID       ModelID `json:"id"`
	Endpoint string  `json:"endpoint"`
	Region   Region  `json:"region"`
	// MaxClassification is the most sensitive classification of data the model may see.
	MaxClassification Classification `json:"maxClassification"`
}

// Retention and policy bounds.
const (
	MinRetentionDays          = 1
	MaxRetentionDays          = 3650
	DefaultRetentionDays      = 365
	MaxErasureGraceDays       = 30
	DefaultErasureGraceDays   = 14
	MinSessionIdleMinutes     = 5
	MaxSessionIdleMinutes     = 24 * 60
	DefaultSessionIdleMinutes = 30
	MinPasswordLength         = 8
	MaxPasswordLength         = 128
	DefaultPasswordLength     = 12
)

// ValidateRetentionDays checks a retention period in days against 1..MaxRetentionDays.
func ValidateRetentionDays(what string, days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return Errorf(KindInvalid, "retention.validate", "%s must be %d to %d days, got %d", what, MinRetentionDays, MaxRetentionDays, days)
	}
	return nil
}

// AuditRetention is how long audit-log entries are kept: 30 or 90 days, or a custom number.
type AuditRetention struct {
	// Mode is "30_DAYS", "90_DAYS" or "CUSTOM".
	Mode string `json:"mode"`
	// Days is the retention in days (30 or 90 for the fixed modes).
	Days int `json:"days"`
}

// The audit retention modes.
const (
	AuditRetention30     = "30_DAYS"
	AuditRetention90     = "90_DAYS"
	AuditRetentionCustom = "CUSTOM"
)

// Validate checks the mode and its days; custom retention is 7 to MaxRetentionDays days.
func (a AuditRetention) Validate() error {
	const op = "audit_retention.validate"
	switch a.Mode {
	case AuditRetention30:
		if a.Days != 30 {
			return E(KindInvalid, op, "audit retention 30_DAYS must have 30 days")
		}
	case AuditRetention90:
		if a.Days != 90 {
			return E(KindInvalid, op, "audit retention 90_DAYS must have 90 days")
		}
	case AuditRetentionCustom:
		if a.Days < 7 || a.Days > MaxRetentionDays {
			return Errorf(KindInvalid, op, "custom audit retention must be 7 to %d days", MaxRetentionDays)
		}
	default:
		return E(KindInvalid, op, "audit retention mode must be 30_DAYS, 90_DAYS or CUSTOM")
	}
	return nil
}

// PasswordPolicy is the organisation's password policy for interactive logins.
type PasswordPolicy struct {
	MinLength      int  `json:"minLength"`
	RequireUpper   bool `json:"requireUpper"`
	RequireDigit   bool `json:"requireDigit"`
	RequireSymbol  bool `json:"requireSymbol"`
	MaxAgeDays     int  `json:"maxAgeDays"`
	HistoryEntries int  `json:"historyEntries"`
}

// Validate checks the policy's bounds.
func (p PasswordPolicy) Validate() error {
	const op = "password_policy.validate"
	if p.MinLength < MinPasswordLength || p.MinLength > MaxPasswordLength {
		return Errorf(KindInvalid, op, "minimum password length must be %d to %d", MinPasswordLength, MaxPasswordLength)
	}
	if p.MaxAgeDays < 0 || p.MaxAgeDays > MaxRetentionDays {
		return Errorf(KindInvalid, op, "password maximum age must be 0 (never) to %d days", MaxRetentionDays)
	}
	if p.HistoryEntries < 0 || p.HistoryEntries > 24 {
		return E(KindInvalid, op, "password history must be 0 to 24 entries")
	}
	return nil
}

// OrganizationSettings are an organisation's policies. They are stored whole in every
// settings event, so a replay shows exactly what was configured at any time.
type OrganizationSettings struct {
	Models                      []AllowedModel   `json:"models"`
	ClassificationLevels        []Classification `json:"classificationLevels"`
	DefaultMessageRetentionDays int              `json:"defaultMessageRetentionDays"`
	AuditRetention              AuditRetention   `json:"auditRetention"`
	ErasureGraceDays            int              `json:"erasureGraceDays"`
	SessionIdleTimeoutMinutes   int              `json:"sessionIdleTimeoutMinutes"`
	Password                    PasswordPolicy   `json:"password"`
	MFARequired                 bool             `json:"mfaRequired"`
	EUOnly                      bool             `json:"euOnly"`
}

// DefaultOrganizationSettings returns the settings of a new organisation: no models, the
// default classification levels, one year of messages, 90 days of audit log, 14 days of
// erasure grace, 30 minutes idle timeout, 12-character passwords, MFA required, EU only.
func DefaultOrganizationSettings() OrganizationSettings {
	return OrganizationSettings{
		Models:                      []AllowedModel{},
		ClassificationLevels:        DefaultClassificationLevels(),
		DefaultMessageRetentionDays: DefaultRetentionDays,
		AuditRetention:              AuditRetention{Mode: AuditRetention90, Days: 90},
		ErasureGraceDays:            DefaultErasureGraceDays,
		SessionIdleTimeoutMinutes:   DefaultSessionIdleMinutes,
		Password:                    PasswordPolicy{MinLength: DefaultPasswordLength},
		MFARequired:                 true,
		EUOnly:                      true,
	}
}

// Validate checks every setting and their consistency: distinct, well-formed classification
// levels; allow-listed models with valid ids, http(s) endpoints, known regions, a known
// maximum classification, no duplicates, and only EU regions when EUOnly is set.
func (s OrganizationSettings) Validate() error {
	const op = "organization_settings.validate"
	if len(s.ClassificationLevels) == 0 || len(s.ClassificationLevels) > 10 {
		return E(KindInvalid, op, "there must be 1 to 10 classification levels")
	}
	seen := map[Classification]bool{}
	for _, c := range s.ClassificationLevels {
		if !levelPattern.MatchString(string(c)) {
			return E(KindInvalid, op, "classification levels must be 1-32 characters of A-Z, 0-9, '_', starting with a letter")
		}
		if seen[c] {
			return Errorf(KindInvalid, op, "classification level %s is listed twice", c)
		}
		seen[c] = true
	}
	if len(s.Models) > 100 {
		return E(KindInvalid, op, "at most 100 models may be allow-listed")
	}
	ids := map[ModelID]bool{}
	for _, m := range s.Models {
		if _, err := NewModelID(string(m.ID)); err != nil {
			return err
		}
		if ids[m.ID] {
			return Errorf(KindInvalid, op, "model %s is listed twice", m.ID)
		}
		ids[m.ID] = true
		u, err := url.Parse(m.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return Errorf(KindInvalid, op, "model %s: endpoint must be an http(s) URL without credentials", m.ID)
		}
		if !m.Region.Valid() {
			return Errorf(KindInvalid, op, "model %s: region must be SE, EU, US or ONPREM", m.ID)
		}
		if s.EUOnly && !m.Region.InEU() {
			return Errorf(KindInvalid, op, "model %s: the organisation is EU-only and the model is hosted in %s", m.ID, m.Region)
		}
		if !seen[m.MaxClassification] {
			return Errorf(KindInvalid, op, "model %s: maximum classification is not one of the organisation's levels", m.ID)
		}
	}
	if err := ValidateRetentionDays("default message retention", s.DefaultMessageRetentionDays); err != nil {
		return err
	}
	if err := s.AuditRetention.Validate(); err != nil {
		return err
	}
	if s.ErasureGraceDays < 0 || s.ErasureGraceDays > MaxErasureGraceDays {
		return Errorf(KindInvalid, op, "erasure grace window must be 0 to %d days", MaxErasureGraceDays)
	}
	if s.SessionIdleTimeoutMinutes < MinSessionIdleMinutes || s.SessionIdleTimeoutMinutes > MaxSessionIdleMinutes {
		return Errorf(KindInvalid, op, "session idle timeout must be %d to %d minutes", MinSessionIdleMinutes, MaxSessionIdleMinutes)
	}
	return s.Password.Validate()
}

// Rank returns the position of c among the levels (0 = least sensitive), or -1.
func (s OrganizationSettings) Rank(c Classification) int {
	for i, l := range s.ClassificationLevels {
		if l == c {
			return i
		}
	}
	return -1
}

// Model returns the allow-list entry of id.
func (s OrganizationSettings) Model(id ModelID) (AllowedModel, bool) {
	for _, m := range s.Models {
		if m.ID == id {
			return m, true
		}
	}
	return AllowedModel{}, false
}
