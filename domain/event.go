package domain

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Event is a fact recorded by an aggregate. EventName returns the event's stable, versioned
// name ("space.member_added.v1"): it is stored with every event, so it never changes, and it
// is never derived from the Go type name.
type Event interface {
	EventName() string
}

// Registry maps stored event names to the Go types that decode them. It is built explicitly
// (NewRegistry, then RegisterEvents) and passed to whoever decodes events; nothing registers
// itself in init().
type Registry struct {
	types map[string]reflect.Type
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]reflect.Type{}} }

// Register adds the type of e under e.EventName(). It refuses a name registered twice with a
// different type and names without a ".vN" version suffix.
func (r *Registry) Register(e Event) error {
	const op = "registry.register"
	name := e.EventName()
	if SchemaVersion(name) == 0 {
		return Errorf(KindInvalid, op, "event name %q has no .vN version suffix", name)
	}
	t := reflect.TypeOf(e)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if old, ok := r.types[name]; ok && old != t {
		return Errorf(KindInvalid, op, "event name %q registered twice", name)
	}
	r.types[name] = t
	return nil
}

// New returns a pointer to a zero value of the event type registered under name, ready to be
// decoded into. Unknown names are KindInternal errors.
func (r *Registry) New(name string) (any, error) {
	t, ok := r.types[name]
	if !ok {
		return nil, Errorf(KindInternal, "registry.new", "unknown event type %q", name)
	}
	return reflect.New(t).Interface(), nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Deref turns the pointer returned by New (after decoding) into the Event value the
// aggregates apply.
func Deref(ptr any) (Event, error) {
	v := reflect.ValueOf(ptr)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	e, ok := v.Interface().(Event)
	if !ok {
		return nil, Errorf(KindInternal, "registry.deref", "%T is not an event", ptr)
	}
	return e, nil
}

// SchemaVersion returns N of an event name ending in ".vN", or 0.
func SchemaVersion(name string) int {
	i := strings.LastIndex(name, ".v")
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(name[i+2:])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// RegisterEvents registers every event of the domain into r.
func RegisterEvents(r *Registry) error {
	for _, e := range AllEvents() {
		if err := r.Register(e); err != nil {
			return err
		}
	}
	return nil
}

// AllEvents returns a zero value of every event type of the domain.
func AllEvents() []Event {
	return []Event{
		OrganizationCreated{}, OrganizationSettingsChanged{},
		IdentityProviderConfigured{}, IdentityProviderRemoved{},
		IdentityProviderClaimed{}, IdentityProviderReleased{}, EmailReserved{},
		UserRegistered{}, UserRoleChanged{}, UserDeactivated{},
		SpaceCreated{}, SpaceMemberAdded{}, SpaceMemberRemoved{}, SpaceMemberRoleChanged{},
		SpaceModelsEnabled{}, SpaceDeleted{},
		AssistantCreated{}, AssistantUpdated{}, AssistantDeleted{},
		DocumentIngested{}, DocumentTextChunkAdded{}, DocumentDeleted{},
		ConversationStarted{}, MessageSent{}, AssistantReplyRecorded{}, ModelInvocationRecorded{},
		APIKeyCreated{}, APIKeyRevoked{}, APIKeyUsed{},
		ErasureRequested{}, ErasureRestored{}, ErasureCompleted{}, RetentionBucketDestroyed{},
		AccessDenied{}, DocumentViewed{}, AuditLogViewed{}, AuditIntegrityViewed{}, AuditLogExported{}, DataExported{},
		ModelInvocationsViewed{}, LoginFailed{}, LoginSucceeded{},
		// New events go last: the keyring's golden test fills fields in this order.
		UserPasswordSet{},
		SearchPerformed{}, AccessQueried{}, AuditSubscribed{}, LoggedOut{},
		AuditSessionOpened{}, HistoryViewed{},
		EvidenceExported{},
		ErasureBasisRecorded{}, ErasureCertified{}, LegalHoldPlaced{}, LegalHoldLifted{},
	}
}

// SubjectsOf returns the distinct data subjects of every Sealed field of e (walking nested
// structs and slices), sorted by their canonical form. They go into the event's metadata.
func SubjectsOf(e any) []Subject {
	seen := map[string]Subject{}
	collectSubjects(reflect.ValueOf(e), seen)
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Subject, len(keys))
	for i, k := range keys {
		out[i] = seen[k]
	}
	return out
}

var sealedType = reflect.TypeOf(Sealed{})

func collectSubjects(v reflect.Value, seen map[string]Subject) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSubjects(v.Elem(), seen)
		}
	case reflect.Struct:
		if v.Type() == sealedType {
			for _, s := range v.Interface().(Sealed).Subjects {
				seen[s.String()] = s
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectSubjects(v.Field(i), seen)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			collectSubjects(v.Index(i), seen)
		}
	}
}

// Metadata is the JSON stored in every event's metadata. It holds no personal data: the actor
// is a pseudonymous user id, subjects are ids.
type Metadata struct {
	// Actor is the id of the user (or "system") on whose behalf the event was recorded.
	Actor string `json:"actor"`
	// Organization is the id of the organisation the event belongs to.
	Organization string `json:"organization"`
	// Space is the id of the space the event belongs to, if any.
	Space string `json:"space,omitempty"`
	// CorrelationID ties together everything caused by one request.
	CorrelationID string `json:"correlationId,omitempty"`
	// CausationID is the id of the command or event that caused this event.
	CausationID string `json:"causationId,omitempty"`
	// CommandID is the id of the command that recorded the event.
	CommandID string `json:"commandId"`
	// SchemaVersion is the N of the event name's ".vN".
	SchemaVersion int `json:"schemaVersion"`
	// Subjects are the canonical forms of the data subjects of the event's sealed fields.
	Subjects []string `json:"subjects,omitempty"`
	// PrevHash is the hex SHA-256 (EventHash) of the previous event in the stream, empty for
	// the first event.
	PrevHash string `json:"prevHash"`
	// OccurredAt is when the command was decided, from the injected clock.
	OccurredAt time.Time `json:"occurredAt"`
	// AuditSubject is the canonical form of the data subject the event's audit entry is
	// about ("user:<id>"), part of the entry's pseudonymous skeleton; empty for none.
	AuditSubject string `json:"auditSubject,omitempty"`
	// AuditDetail is the envelope of the audit entry's sealed detail (see AuditFactsOf and
	// SealAuditDetail), bound to the event id and AuditDetailPath; empty for none.
	AuditDetail string `json:"auditDetail,omitempty"`
}

// Proposed is an event ready to append: its id, name, encoded payload and metadata.
type Proposed struct {
	EventID  string
	Type     string
	Data     []byte
	Metadata []byte
}

// Recorded is an event as stored: its stream, revision in the stream, commit position in the
// global log, id, name, payload and metadata bytes exactly as stored.
type Recorded struct {
	Stream   string
	Revision uint64
	Position uint64
	EventID  string
	Type     string
	Data     []byte
	Metadata []byte
	Created  time.Time
}

// NoStream is the expected revision of a stream that must not exist yet.
const NoStream int64 = -1
