// Package eventlog adapts infra/esdbwatermill's reader of EventStoreDB's $all stream to the
// projection engine's Log, so that neither package imports the other.
package eventlog

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/projections/engine"
)

// Log is the engine.Log over an esdbwatermill.Log.
type Log struct {
	l *esdbwatermill.Log
}

var _ engine.Log = (*Log)(nil)

// New returns the log of $all read through client, which the caller keeps owning and closes.
func New(client *esdb.Client, opts esdbwatermill.Options) *Log {
	return &Log{l: esdbwatermill.NewLog(client, opts)}
}

// NewFrom returns a Log over the clients src hands out (infra/eventstore.Store), renewing
// one that has given up, so that the projections resubscribe after an outage of any length.
func NewFrom(src esdbwatermill.Clients, opts esdbwatermill.Options) *Log {
	return &Log{l: esdbwatermill.NewLogFrom(src, opts)}
}

// Subscriber implements engine.Log: its messages are encoded with engine.NewMessage.
func (a *Log) Subscriber(from *engine.Position) message.Subscriber {
	return a.l.Subscriber(toPosition(from), encode)
}

// Read implements engine.Log.
func (a *Log) Read(ctx context.Context, after *engine.Position, max int) (engine.Page, error) {
	pg, err := a.l.Read(ctx, toPosition(after), max)
	if err != nil {
		return engine.Page{}, err
	}
	out := engine.Page{Events: make([]engine.Event, len(pg.Events)), Last: fromPosition(pg.Last), End: pg.End}
	for i, r := range pg.Events {
		out.Events[i] = toEvent(r)
	}
	return out, nil
}

// Head implements engine.Log.
func (a *Log) Head(ctx context.Context) (*engine.Position, error) {
	p, err := a.l.Head(ctx)
	return fromPosition(p), err
}

func encode(r *esdb.RecordedEvent, backlog int) *message.Message {
	return engine.NewMessage(toEvent(r), backlog)
}

// toEvent converts a recorded event.
func toEvent(r *esdb.RecordedEvent) engine.Event {
	return engine.Event{
		ID:          r.EventID,
		Type:        r.EventType,
		Stream:      r.StreamID,
		Revision:    r.EventNumber,
		Position:    engine.Position{Commit: r.Position.Commit, Prepare: r.Position.Prepare},
		Created:     r.CreatedDate,
		ContentType: r.ContentType,
		Data:        r.Data,
		Metadata:    r.UserMetadata,
	}
}

func toPosition(p *engine.Position) *esdb.Position {
	if p == nil {
		return nil
	}
	return &esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func fromPosition(p *esdb.Position) *engine.Position {
	if p == nil {
		return nil
	}
	return &engine.Position{Commit: p.Commit, Prepare: p.Prepare}
}
