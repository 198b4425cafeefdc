// Package ledger runs Arkiv's verifiable log: the projection that keeps the RFC 6962 Merkle
// tree over every event in $all order in Postgres (its checkpoint in the same transaction),
// the checkpointer that signs the tree every N events or T seconds and appends the signed
// checkpoint to the ledger stream, the monitor that verifies each new range after a
// checkpoint, and the Reader that serves the latest checkpoint, proofs and the ledger's
// records to `arkiv audit` and the API. The evidence logic itself is package ledger
// (github.com/arkiv/arkiv/ledger).
package ledger

// This file is the package's only contact with the projection engine (package projections).

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/projections/engine"
)

// Name is the projection's fixed name (its checkpoint key).
const Name = "ledger"

// Projection keeps the tree. It implements engine.BatchProjection.
type Projection struct{}

// NewProjection returns the ledger projection.
func NewProjection() *Projection { return &Projection{} }

// Name implements engine.Projection.
func (*Projection) Name() string { return Name }

// Tables implements engine.Projection.
func (*Projection) Tables() []string { return Tables() }

// Linger is how long a leaf may wait for more before its batch is committed. No query waits
// for the ledger (checkpoints come every Every leaves or Interval), so it need not commit
// each event as it arrives: under a steady write load it commits a few large batches a
// second instead of a transaction per append, which would compete with the appends
// themselves for the machine (issue 15's appends-with-ledger ÷ without).
const Linger = 100 * time.Millisecond

// Linger implements engine.LingeringProjection.
func (*Projection) Linger() time.Duration { return Linger }

// Apply implements engine.Projection: the event becomes the next leaf, once.
func (*Projection) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	return appendLeaves(ctx, tx, []ledger.Entry{entryOf(ev)}, true)
}

// ApplyBatch implements engine.BatchProjection with COPY; an event already in the tree
// fails it (the runner then applies the events one by one).
func (*Projection) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []engine.Event) error {
	es := make([]ledger.Entry, len(evs))
	for i, ev := range evs {
		es[i] = entryOf(ev)
	}
	return appendLeaves(ctx, tx, es, false)
}

func entryOf(ev engine.Event) ledger.Entry {
	return ledger.Entry{EventID: ev.ID.String(), Stream: ev.Stream, Revision: ev.Revision, Position: ev.Position.Commit,
		Type: ev.Type, Created: ev.Created, Data: ev.Data, Metadata: ev.Metadata}
}

var (
	_ engine.BatchProjection     = (*Projection)(nil)
	_ engine.LingeringProjection = (*Projection)(nil)
)

// NewLogReader reads the log through the projection engine's Log (infra/esdbwatermill over
// the official client): the same events, in the same order, the projection sees.
func NewLogReader(l engine.Log) LogReader { return engineLog{l} }

type engineLog struct{ l engine.Log }

// ReadPage implements LogReader with the engine's Log.Read.
func (e engineLog) ReadPage(ctx context.Context, after *Position, max int) (Page, error) {
	var from *engine.Position
	if after != nil {
		from = &engine.Position{Commit: after.Commit, Prepare: after.Prepare}
	}
	pg, err := e.l.Read(ctx, from, max)
	if err != nil {
		return Page{}, err
	}
	out := Page{Entries: make([]ledger.Entry, len(pg.Events)), End: pg.End}
	for i, ev := range pg.Events {
		out.Entries[i] = entryOf(ev)
	}
	if pg.Last != nil {
		out.Last = &Position{Commit: pg.Last.Commit, Prepare: pg.Last.Prepare}
	}
	return out, nil
}

// Head implements LogReader with the engine's Log.Head.
func (e engineLog) Head(ctx context.Context) (*Position, error) {
	p, err := e.l.Head(ctx)
	if err != nil || p == nil {
		return nil, err
	}
	return &Position{Commit: p.Commit, Prepare: p.Prepare}, nil
}
