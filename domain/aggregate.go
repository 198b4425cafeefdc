package domain

// Aggregate is an event-sourced aggregate: its exported methods validate a decision and
// record events; its state changes only in its unexported applier. Only the types of this
// package implement it.
type Aggregate interface {
	// ID returns the aggregate's id (a lower-case UUID).
	ID() string
	// Stream returns the name of the aggregate's event stream, e.g. "space-<id>".
	Stream() string
	// OrganizationID returns the organisation the aggregate belongs to, empty before it is
	// created.
	OrganizationID() string
	// SpaceID returns the space the aggregate belongs to, empty when it belongs to none.
	SpaceID() string
	// Version returns the revision of the last event replayed, NoStream (-1) for none.
	Version() int64
	// Changes returns the events recorded since the aggregate was loaded.
	Changes() []Event

	base() *root
	apply(Event)
}

// root is the state every aggregate shares.
type root struct {
	id      string
	stream  string
	org     string
	space   string
	version int64
	changes []Event
}

func newRoot(prefix, id string) root {
	return root{id: id, stream: prefix + id, version: NoStream}
}

// ID returns the aggregate's id.
func (r *root) ID() string { return r.id }

// Stream returns the aggregate's stream name.
func (r *root) Stream() string { return r.stream }

// OrganizationID returns the organisation the aggregate belongs to.
func (r *root) OrganizationID() string { return r.org }

// SpaceID returns the space the aggregate belongs to, if any.
func (r *root) SpaceID() string { return r.space }

// Version returns the revision of the last replayed event.
func (r *root) Version() int64 { return r.version }

// Changes returns the events recorded since loading.
func (r *root) Changes() []Event { return r.changes }

func (r *root) base() *root { return r }

// created reports whether the aggregate's creation event has been applied.
func (r *root) created() bool { return r.org != "" }

// Replay applies history (the stream's events in order) to a freshly constructed aggregate
// and sets its version to the revision of the last event.
func Replay(a Aggregate, history []Event, version int64) {
	for _, e := range history {
		a.apply(e)
	}
	a.base().version = version
}

// record applies e to a and appends it to a's changes.
func record(a Aggregate, e Event) {
	a.apply(e)
	b := a.base()
	b.changes = append(b.changes, e)
}

// Stream name prefixes: one stream per aggregate instance, "<prefix><id>".
const (
	StreamPrefixOrganization = "org-"
	StreamPrefixUser         = "user-"
	StreamPrefixSpace        = "space-"
	StreamPrefixAssistant    = "assistant-"
	StreamPrefixDocument     = "document-"
	StreamPrefixConversation = "conversation-"
	StreamPrefixAPIKey       = "apikey-"
	StreamPrefixErasure      = "erasure-"
	// StreamPrefixAccess is the organisation's access log: "access-<orgID>" holds
	// access.denied, document viewed, audit log viewed/exported and data exported events.
	StreamPrefixAccess = "access-"
)

// AccessStream returns the name of an organisation's access-log stream.
func AccessStream(orgID string) string { return StreamPrefixAccess + orgID }

// errGone is the error for a command on a deleted aggregate.
func errGone(op, what string) error { return Errorf(KindNotFound, op, "%s not found", what) }

// errExists is the error for creating an aggregate twice.
func errExists(op, what string) error { return Errorf(KindConflict, op, "%s already exists", what) }
