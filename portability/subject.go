package portability

import (
	"archive/zip"
	"context"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// SubjectFormat names the subject export's layout (subject.json; schema.json describes it).
const SubjectFormat = "arkiv.subject-export.v1"

// SubjectSchema is the JSON Schema of subject.json, shipped inside every subject export.
//
//go:embed subject.schema.json
var SubjectSchema []byte

// SubjectRequest is what a subject access export is asked for.
type SubjectRequest struct {
	Organization string
	UserID       string
	// RequestID is the subject request case the export answers, if any.
	RequestID  string
	Version    string
	ExportedAt time.Time
}

// SubjectData is everything Arkiv holds about one person in an organisation, section by
// section, each a list of Records in log order with the sealed fields opened.
type SubjectData struct {
	Format       string    `json:"format"`
	Organization string    `json:"organization"`
	UserID       string    `json:"userId"`
	RequestID    string    `json:"requestId,omitempty"`
	ExportedAt   time.Time `json:"exportedAt"`
	Version      string    `json:"version"`
	// Profile: registration (name, e-mail), organisation roles over time, password changes
	// (never the password), deactivation.
	Profile []Record `json:"profile"`
	// Memberships: spaces joined and left and space roles over time; data.spaceName is the
	// space's name.
	Memberships []Record `json:"memberships"`
	// Conversations the person started.
	Conversations []Record `json:"conversations"`
	// Messages: the person's messages and the replies in their conversations.
	Messages []Record `json:"messages"`
	// Documents the person ingested (metadata: title, type, size, space).
	Documents []Record `json:"documents"`
	// APIKeys the person owns: creation, use and revocation, never the key or its hash.
	APIKeys []Record `json:"apiKeys"`
	// Logins: successful logins and logouts.
	Logins []Record `json:"logins"`
	// ModelCalls: model invocations made on the person's behalf (payloads where logged).
	ModelCalls []Record `json:"modelCalls"`
	// AccessedBy: the audit trail's entries about the person made by others (reads,
	// exports, role and membership changes), and the person's own data exports.
	AccessedBy []Record `json:"accessedBy"`
}

// sectionNames are the JSON names of SubjectData's sections, in order, with their CSV
// columns: Record fields (eventId, at, type, actor) or paths into data.
var subjectTables = []struct {
	name    string
	file    string
	columns []string
	get     func(*SubjectData) *[]Record
}{
	{"profile", "profile.csv", []string{"at", "type", "actor", "name", "email", "role", "previousRole", "setBy", "reset"}, func(d *SubjectData) *[]Record { return &d.Profile }},
	{"memberships", "memberships.csv", []string{"at", "type", "actor", "spaceId", "spaceName", "role", "previousRole"}, func(d *SubjectData) *[]Record { return &d.Memberships }},
	{"conversations", "conversations.csv", []string{"at", "type", "conversationId", "spaceId", "assistantId"}, func(d *SubjectData) *[]Record { return &d.Conversations }},
	{"messages", "messages.csv", []string{"at", "type", "conversationId", "messageId", "author", "inReplyTo", "text"}, func(d *SubjectData) *[]Record { return &d.Messages }},
	{"documents", "documents.csv", []string{"at", "type", "documentId", "spaceId", "title", "contentType", "sizeBytes", "chunkCount"}, func(d *SubjectData) *[]Record { return &d.Documents }},
	{"apiKeys", "api_keys.csv", []string{"at", "type", "actor", "keyId", "prefix", "ownerKind", "usedAt", "revokedBy"}, func(d *SubjectData) *[]Record { return &d.APIKeys }},
	{"logins", "logins.csv", []string{"at", "type", "remoteIpDigest", "succeededAt", "loggedOutAt"}, func(d *SubjectData) *[]Record { return &d.Logins }},
	{"modelCalls", "model_calls.csv", []string{"at", "type", "conversationId", "invocationId", "model", "region", "outcome", "promptTokens", "completionTokens", "payloadLogged", "requestPayload", "responsePayload"}, func(d *SubjectData) *[]Record { return &d.ModelCalls }},
	{"accessedBy", "accessed_by.csv", []string{"at", "type", "actor", "eventId"}, func(d *SubjectData) *[]Record { return &d.AccessedBy }},
}

// subjectRefs are the plain (never sealed) fields that tie an event to a person.
type subjectRefs struct {
	UserID         string `json:"userId"`
	StartedBy      string `json:"startedBy"`
	IngestedBy     string `json:"ingestedBy"`
	OwnerKind      string `json:"ownerKind"`
	OwnerID        string `json:"ownerId"`
	KeyID          string `json:"keyId"`
	ConversationID string `json:"conversationId"`
	SpaceID        string `json:"spaceId"`
	SubjectType    string `json:"subjectType"`
	SubjectID      string `json:"subjectId"`
}

// ExportSubject gathers everything the log holds about req.UserID in req.Organization, one
// pass over the log; only events of that organisation are read, so nothing of another
// tenant can enter. A user the organisation has never registered is a KindNotFound error.
// What the person's data is mixed with (another user's message in their conversation has
// none) stays in the organisation's export.
func ExportSubject(ctx context.Context, src Source, op Opener, req SubjectRequest) (*SubjectData, error) {
	const opName = "portability.export_subject"
	if err := domain.ValidateID("organisation id", req.Organization); err != nil {
		return nil, err
	}
	if err := domain.ValidateID("user id", req.UserID); err != nil {
		return nil, err
	}
	d := &SubjectData{Format: SubjectFormat, Organization: req.Organization, UserID: req.UserID, RequestID: req.RequestID,
		ExportedAt: req.ExportedAt.UTC(), Version: req.Version}
	user := strings.ToLower(req.UserID)
	userStream := domain.NewUser(req.UserID).Stream()
	auditSubject := domain.UserSubject(req.UserID).String()
	convs, keys := map[string]bool{}, map[string]bool{}
	spaceNames := map[string]string{}
	registered := false
	err := src.Scan(ctx, func(e ledger.Entry) error {
		md := metadata(e)
		if md.Organization != req.Organization {
			return nil
		}
		var refs subjectRefs
		_ = json.Unmarshal(e.Data, &refs)
		is := func(id string) bool { return id != "" && strings.ToLower(id) == user }
		var into *[]Record
		switch {
		case isType(e.Type, domain.SpaceCreated{}):
			rec, err := newRecord(ctx, op, e, md)
			if err != nil {
				return err
			}
			var s struct {
				Name *string `json:"name"`
			}
			if json.Unmarshal(rec.Data, &s) == nil && s.Name != nil {
				spaceNames[refs.SpaceID] = *s.Name
			}
			return nil
		case e.Stream == userStream && hasPrefix(e.Type, "user."):
			into = &d.Profile
			registered = registered || isType(e.Type, domain.UserRegistered{})
		case hasPrefix(e.Type, "space.member_") && is(refs.UserID):
			into = &d.Memberships
		case isType(e.Type, domain.ConversationStarted{}) && is(refs.StartedBy):
			convs[refs.ConversationID] = true
			into = &d.Conversations
		case isType(e.Type, domain.ModelInvocationRecorded{}) && (convs[refs.ConversationID] || is(refs.UserID)):
			into = &d.ModelCalls
		case hasPrefix(e.Type, "conversation.") && convs[refs.ConversationID]:
			into = &d.Messages
		case isType(e.Type, domain.DocumentIngested{}) && is(refs.IngestedBy):
			into = &d.Documents
		case isType(e.Type, domain.APIKeyCreated{}) && refs.OwnerKind == domain.KeyOwnerUser && is(refs.OwnerID):
			keys[refs.KeyID] = true
			into = &d.APIKeys
		case hasPrefix(e.Type, "apikey.") && keys[refs.KeyID]:
			into = &d.APIKeys
		case (isType(e.Type, domain.LoginSucceeded{}) || isType(e.Type, domain.LoggedOut{})) && is(refs.UserID):
			into = &d.Logins
		}
		if into == nil && md.AuditSubject == auditSubject && (!is(md.Actor) || hasPrefix(e.Type, "access.")) {
			into = &d.AccessedBy
		}
		if into == nil {
			return ctx.Err()
		}
		rec, err := newRecord(ctx, op, e, md)
		if err != nil {
			return err
		}
		if into == &d.Memberships {
			rec.Data = withField(rec.Data, "spaceName", spaceNames[refs.SpaceID])
		}
		*into = append(*into, rec)
		// An event about the person by someone else is also an access to their data.
		if into != &d.AccessedBy && md.AuditSubject == auditSubject && !is(md.Actor) {
			d.AccessedBy = append(d.AccessedBy, rec)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	if !registered {
		return nil, domain.E(domain.KindNotFound, opName, "no such user in the organisation")
	}
	for _, t := range subjectTables {
		if p := t.get(d); *p == nil {
			*p = []Record{}
		}
	}
	return d, nil
}

// withField returns the JSON object data with key set to value.
func withField(data json.RawMessage, key, value string) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return b
}

// WriteSubjectArchive writes d as a zip: subject.json (the whole export, schema.json
// describes it), schema.json, and one CSV table per section with a header row.
func WriteSubjectArchive(w io.Writer, d *SubjectData) error {
	zw := zip.NewWriter(w)
	f, err := zw.Create("subject.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return err
	}
	if f, err = zw.Create("schema.json"); err != nil {
		return err
	}
	if _, err := f.Write(SubjectSchema); err != nil {
		return err
	}
	for _, t := range subjectTables {
		f, err := zw.Create(t.file)
		if err != nil {
			return err
		}
		cw := csv.NewWriter(f)
		if err := cw.Write(t.columns); err != nil {
			return err
		}
		for _, r := range *t.get(d) {
			var data map[string]any
			_ = json.Unmarshal(r.Data, &data)
			row := make([]string, len(t.columns))
			for i, c := range t.columns {
				row[i] = cell(r, data, c)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return zw.Close()
}

// cell is column c of record r (whose opened payload is data) in a CSV table.
func cell(r Record, data map[string]any, c string) string {
	switch c {
	case "at":
		return r.At.Format(time.RFC3339Nano)
	case "type":
		return r.Type
	case "actor":
		return r.Actor
	case "eventId":
		return r.EventID
	}
	switch v := data[c].(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Tables returns the CSV file names of a subject export, in order.
func Tables() []string {
	out := make([]string, len(subjectTables))
	for i, t := range subjectTables {
		out[i] = t.file
	}
	return out
}
