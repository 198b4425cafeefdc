package domain

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// An audit entry has two parts. Its pseudonymous skeleton — event id, action, time, actor,
// target, affected subject, outcome — is readable forever. Its detail (roles before and
// after, a settings diff, a denial's reason code, an erasure's grace window…) is sealed in
// the event's metadata under the organisation's audit-log bucket of the event's day and,
// when the entry is about a user, under that user: audit retention destroys the bucket and
// erasure the user, and either makes the detail unreadable while the skeleton and the hash
// chain stay verifiable.

// AuditDetailPath is the field path that binds a sealed audit detail (in the event's
// metadata) to its event: readers open it with this path.
const AuditDetailPath = "auditDetail"

// SettingChange is one changed field of the organisation's settings: its JSON path and the
// JSON values before and after.
type SettingChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// DiffSettings returns the field-level differences from a to b, by JSON field path
// ("auditRetention.days"), sorted by path. Lists compare whole.
func DiffSettings(a, b OrganizationSettings) []SettingChange {
	fa, fb := flatten(a), flatten(b)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []SettingChange
	for k := range keys {
		if fa[k] != fb[k] {
			out = append(out, SettingChange{Field: k, Before: fa[k], After: fb[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// flatten returns the JSON of v's fields by path, objects walked one level deep per
// nesting, arrays and scalars as JSON text.
func flatten(v any) map[string]string {
	out := map[string]string{}
	b, err := json.Marshal(v)
	if err != nil {
		return out
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return out
	}
	var walk func(prefix string, m map[string]json.RawMessage)
	walk = func(prefix string, m map[string]json.RawMessage) {
		for k, raw := range m {
			var sub map[string]json.RawMessage
			if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &sub) == nil {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = string(raw)
		}
	}
	walk("", m)
	return out
}

// The reason codes of denials: stable tokens for the phrases of AccessDenied.Reason.
const (
	ReasonCodeRole         = "role"
	ReasonCodeOrganization = "cross_organization"
	ReasonCodeNotOwner     = "not_owner"
	ReasonCodeInactive     = "inactive"
	ReasonCodeLegalHold    = "legal_hold"
	ReasonCodeOther        = "other"
)

// ReasonCode returns the stable code of a denial's reason phrase.
func ReasonCode(reason string) string {
	switch reason {
	case ReasonRole:
		return ReasonCodeRole
	case ReasonOrganization:
		return ReasonCodeOrganization
	case ReasonNotOwner:
		return ReasonCodeNotOwner
	case ReasonInactive:
		return ReasonCodeInactive
	case ReasonLegalHold:
		return ReasonCodeLegalHold
	}
	return ReasonCodeOther
}

// AuditFacts are what an audit entry says about an event beyond its skeleton: the affected
// subject (pseudonymous, part of the skeleton) and the detail (sealed).
type AuditFacts struct {
	// Subject is the data subject the event is about ("user:<id>"), zero for none.
	Subject Subject
	// Detail holds the readable detail as string fields, nil for none.
	Detail map[string]string
}

// AuditFactsOf returns what the audit entry of e says: who was affected and how.
func AuditFactsOf(e Event) AuditFacts {
	d := map[string]string{}
	var sub Subject
	user := func(id string) {
		if id != "" {
			sub = UserSubject(id)
		}
	}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	switch e := e.(type) {
	case UserRegistered:
		user(e.UserID)
		set("roleAfter", string(e.Role))
	case UserRoleChanged:
		user(e.UserID)
		set("roleBefore", string(e.PreviousRole))
		set("roleAfter", string(e.Role))
	case UserDeactivated:
		user(e.UserID)
	case SpaceMemberAdded:
		user(e.UserID)
		set("spaceId", e.SpaceID)
		set("roleAfter", string(e.Role))
	case SpaceMemberRemoved:
		user(e.UserID)
		set("spaceId", e.SpaceID)
		set("roleBefore", string(e.PreviousRole))
	case SpaceMemberRoleChanged:
		user(e.UserID)
		set("spaceId", e.SpaceID)
		set("roleBefore", string(e.PreviousRole))
		set("roleAfter", string(e.Role))
	case OrganizationSettingsChanged:
		if len(e.Changes) > 0 {
			b, _ := json.Marshal(e.Changes)
			d["changes"] = string(b)
		}
	case SpaceModelsEnabled:
		b, _ := json.Marshal(e.Models)
		d["models"] = string(b)
	case AssistantCreated:
		set("model", string(e.Model))
		d["retentionDays"] = strconv.Itoa(e.RetentionDays)
		d["logModelPayloads"] = strconv.FormatBool(e.LogModelPayloads)
	case AssistantUpdated:
		set("model", string(e.Model))
		d["retentionDays"] = strconv.Itoa(e.RetentionDays)
		d["logModelPayloads"] = strconv.FormatBool(e.LogModelPayloads)
	case AccessDenied:
		set("command", string(e.Command))
		set("reasonCode", ReasonCode(e.Reason))
		set("orgRole", string(e.OrgRole))
		set("spaceRole", string(e.SpaceRole))
	case ErasureRequested:
		sub = Subject{e.SubjectType, e.SubjectID}
		d["graceDays"] = strconv.Itoa(e.GraceDays)
		set("effectiveAt", e.EffectiveAt.UTC().Format(time.RFC3339))
	case ErasureCompleted:
		sub = Subject{e.SubjectType, e.SubjectID}
	case ErasureBasisRecorded:
		set("origin", string(e.Origin))
		set("legalBasis", e.LegalBasis)
		set("spaceId", e.SpaceID)
	case ErasureCertified:
		d["signed"] = strconv.FormatBool(e.Signed)
	case LegalHoldPlaced:
		sub = Subject{e.SubjectType, e.SubjectID}
		set("spaceId", e.SpaceID)
		set("reason", e.Reason)
	case LegalHoldLifted:
		set("holdId", e.HoldID)
		set("reason", e.Reason)
	case RetentionBucketDestroyed:
		set("bucket", e.Bucket)
		d["retentionDays"] = strconv.Itoa(e.RetentionDays)
	case AuditLogExported:
		set("format", e.Format)
		set("from", formatTime(e.From))
		set("to", formatTime(e.To))
	case DataExported:
		sub = Subject{e.SubjectType, e.SubjectID}
		set("format", e.Format)
	case LoginFailed:
		set("reasonCode", e.Reason)
	case LoginSucceeded:
		user(e.UserID)
	case ModelInvocationRecorded:
		set("model", string(e.Model))
		set("region", string(e.Region))
		set("outcome", e.Outcome)
	case SearchPerformed:
		set("spaceId", e.SpaceID)
		d["hits"] = strconv.Itoa(e.Hits)
	case AccessQueried:
		// The queried ids are what the reader asked for, not facts of the organisation: they
		// stay in the sealed detail, out of the skeleton.
		set("query", e.Query)
		set("spaceId", e.SpaceID)
		set("userId", e.UserID)
	case AuditSubscribed:
	case LoggedOut:
		user(e.UserID)
	}
	if len(d) == 0 {
		d = nil
	}
	return AuditFacts{Subject: sub, Detail: d}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// SealAuditDetail returns the detail of facts as a sealed JSON object under the
// organisation's audit-log bucket of at and, for a user, under the user; the zero Sealed
// when there is no detail or no organisation.
func SealAuditDetail(org string, at time.Time, f AuditFacts) Sealed {
	if f.Detail == nil || ValidateID("organisation id", org) != nil {
		return Sealed{}
	}
	b, err := json.Marshal(f.Detail)
	if err != nil {
		return Sealed{}
	}
	subs := []Subject{AuditBucket(org, at)}
	if f.Subject.Kind == SubjectUser && f.Subject.Validate() == nil {
		subs = append(subs, f.Subject)
	}
	return Seal(string(b), subs...)
}

// SearchPerformed records a search over a space's documents: search returns document text,
// so it is audited like a document read. The query itself is not kept.
type SearchPerformed struct {
	Searcher   string    `json:"searcher"`
	SpaceID    string    `json:"spaceId"`
	Hits       int       `json:"hits"`
	SearchedAt time.Time `json:"searchedAt"`
}

// EventName implements Event.
func (SearchPerformed) EventName() string { return "access.search_performed.v1" }

// The queries of AccessQueried.
const (
	AccessQueryWhoCanAccess = "whoCanAccess"
	AccessQueryAccessOf     = "accessOf"
)

// AccessQueried records a read of who can access what: whoCanAccess(space) or
// accessOf(user).
type AccessQueried struct {
	Viewer    string    `json:"viewer"`
	Query     string    `json:"query"`
	SpaceID   string    `json:"spaceId,omitempty"`
	UserID    string    `json:"userId,omitempty"`
	QueriedAt time.Time `json:"queriedAt"`
}

// EventName implements Event.
func (AccessQueried) EventName() string { return "access.access_queried.v1" }

// AuditSubscribed records that a user subscribed to the organisation's live audit events.
type AuditSubscribed struct {
	Subscriber   string    `json:"subscriber"`
	SubscribedAt time.Time `json:"subscribedAt"`
}

// EventName implements Event.
func (AuditSubscribed) EventName() string { return "access.audit_subscribed.v1" }

// LoggedOut records that a user ended their session.
type LoggedOut struct {
	UserID      string    `json:"userId"`
	LoggedOutAt time.Time `json:"loggedOutAt"`
}

// EventName implements Event.
func (LoggedOut) EventName() string { return "access.logged_out.v1" }
