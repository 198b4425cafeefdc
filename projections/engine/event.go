// Package engine is the projection engine over the $all stream: it runs each
// projection as a Watermill Router handler over a catch-up subscription, applies events in log
// order in batched Postgres transactions that also carry the projection's checkpoint (so a
// crash at any instant neither loses nor doubles an effect), stops a projection that meets a
// poison event and reports it, rebuilds projections blue/green into shadow tables, and lets a
// query wait until the projections it reads have passed a command's log position.
package engine

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/domain"
	"github.com/google/uuid"
)

// Position is a position in the $all stream: the commit and prepare positions EventStoreDB
// assigns to a recorded event. Positions order the log; commands return the position of their
// last event for read-your-writes.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// String returns the position in EventStoreDB's notation, "C:commit/P:prepare".
func (p Position) String() string { return fmt.Sprintf("C:%d/P:%d", p.Commit, p.Prepare) }

// Event is one recorded event as a projection sees it.
type Event struct {
	// ID is the event's id, unique in the log.
	ID uuid.UUID
	// Type is the stable, versioned event type, e.g. "space.member_added.v1".
	Type string
	// Stream is the stream the event was appended to.
	Stream string
	// Revision is the event's number in its stream, from 0.
	Revision uint64
	// Position is the event's position in $all.
	Position Position
	// Created is when the event store recorded the event.
	Created time.Time
	// ContentType is the payload's content type, usually "application/json".
	ContentType string
	// Data is the event payload as appended.
	Data []byte
	// Metadata is the event's user metadata (JSON) as appended.
	Metadata []byte
}

// Watermill message metadata keys under which an event's envelope travels. The message UUID is
// the event id and the payload is the event data.
const (
	MetaEventID         = "arkiv_event_id"
	MetaEventType       = "arkiv_event_type"
	MetaStream          = "arkiv_stream"
	MetaRevision        = "arkiv_revision"
	MetaCommitPosition  = "arkiv_commit_position"
	MetaPreparePosition = "arkiv_prepare_position"
	MetaCreated         = "arkiv_created"
	MetaContentType     = "arkiv_content_type"
	// MetaEventMetadata carries the event's original user metadata JSON.
	MetaEventMetadata = "arkiv_event_metadata"
	// MetaBacklog is how many further events the subscriber already holds behind this one; a
	// handler may keep batching while it is above zero and should flush when it is zero.
	MetaBacklog = "arkiv_backlog"
)

// NewMessage encodes ev as a Watermill message; backlog is how many events the sender already
// holds behind it.
func NewMessage(ev Event, backlog int) *message.Message {
	msg := message.NewMessage(ev.ID.String(), ev.Data)
	md := msg.Metadata
	md[MetaEventID] = ev.ID.String()
	md[MetaEventType] = ev.Type
	md[MetaStream] = ev.Stream
	md[MetaRevision] = strconv.FormatUint(ev.Revision, 10)
	md[MetaCommitPosition] = strconv.FormatUint(ev.Position.Commit, 10)
	md[MetaPreparePosition] = strconv.FormatUint(ev.Position.Prepare, 10)
	md[MetaCreated] = ev.Created.UTC().Format(time.RFC3339Nano)
	md[MetaContentType] = ev.ContentType
	md[MetaEventMetadata] = string(ev.Metadata)
	md[MetaBacklog] = strconv.Itoa(backlog)
	return msg
}

// EventFromMessage decodes a message built by NewMessage.
func EventFromMessage(msg *message.Message) (Event, error) {
	const op = "engine.EventFromMessage"
	md := msg.Metadata
	var ev Event
	var err error
	if ev.ID, err = uuid.Parse(md.Get(MetaEventID)); err != nil {
		return Event{}, domain.Wrap(domain.KindInvalid, op, err, "message has no valid event id")
	}
	if ev.Revision, err = strconv.ParseUint(md.Get(MetaRevision), 10, 64); err != nil {
		return Event{}, domain.Wrap(domain.KindInvalid, op, err, "message has no valid stream revision")
	}
	if ev.Position.Commit, err = strconv.ParseUint(md.Get(MetaCommitPosition), 10, 64); err != nil {
		return Event{}, domain.Wrap(domain.KindInvalid, op, err, "message has no valid commit position")
	}
	if ev.Position.Prepare, err = strconv.ParseUint(md.Get(MetaPreparePosition), 10, 64); err != nil {
		return Event{}, domain.Wrap(domain.KindInvalid, op, err, "message has no valid prepare position")
	}
	if ev.Created, err = time.Parse(time.RFC3339Nano, md.Get(MetaCreated)); err != nil {
		return Event{}, domain.Wrap(domain.KindInvalid, op, err, "message has no valid creation time")
	}
	ev.Type = md.Get(MetaEventType)
	ev.Stream = md.Get(MetaStream)
	ev.ContentType = md.Get(MetaContentType)
	if m := md.Get(MetaEventMetadata); m != "" {
		ev.Metadata = []byte(m)
	}
	ev.Data = msg.Payload
	return ev, nil
}

// backlogOf returns the MetaBacklog of msg, 0 when absent.
func backlogOf(msg *message.Message) int {
	n, err := strconv.Atoi(msg.Metadata.Get(MetaBacklog))
	if err != nil {
		return 0
	}
	return n
}
