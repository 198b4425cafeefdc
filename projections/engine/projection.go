package engine

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// Projection builds a read model from the log.
//
// Name is fixed forever: it keys the checkpoint, so renaming a projection replays everything.
// Tables lists the tables the projection owns, unqualified, in the public schema; a rebuild
// recreates them and swaps them in. Apply writes one event's effects through tx and nothing
// else: no other I/O, no commit. Its SQL must name tables unqualified (a rebuild runs it with
// search_path pointing at the shadow schema), and it must ignore event types it does not know.
//
// Read-model tables should use identity columns rather than serial ones, and no views may
// depend on them: a rebuild moves the tables between schemas and drops the old ones.
type Projection interface {
	Name() string
	Tables() []string
	Apply(ctx context.Context, tx pgx.Tx, ev Event) error
}

// BatchProjection is a Projection that can apply several consecutive events at once, e.g.
// with COPY or a pipelined pgx.Batch. The runner and rebuilds prefer ApplyBatch when present.
// ApplyBatch must have the same effect as Apply on each event in order. When it fails, the
// runner retries the events one at a time with Apply to find the failing one, and a rebuild
// undoes the batch and applies its events one at a time; so ApplyBatch may simply fail on
// what its fast path cannot handle (a COPY meeting a row that already exists).
type BatchProjection interface {
	Projection
	ApplyBatch(ctx context.Context, tx pgx.Tx, evs []Event) error
}

// LingeringProjection is a Projection whose readers need no read-your-writes (no query
// waits for it), so that a batch may wait for more events when the log is quiet: the
// runner commits its batch when it is full or when its first event has waited Linger,
// never at once because the subscriber holds nothing more. Fewer, larger transactions cut
// the projection's cost per event (its round trips and commits compete with the writers
// for the same machine) at the price of at most Linger of extra lag.
type LingeringProjection interface {
	Projection
	Linger() time.Duration
}

// Log is the event log the projections read: app/eventlog implements it over $all with
// infra/esdbwatermill and the official EventStoreDB client.
type Log interface {
	// Subscriber returns a Watermill subscriber that delivers, one message per event encoded
	// with NewMessage, every non-system event after from (nil: from the start of the log), in
	// log order, the next one only after the previous one was acked, and reconnects when the
	// subscription drops. Its topic argument is ignored.
	Subscriber(from *Position) message.Subscriber
	// Read returns up to max entries of the log after after (nil: from the start), in order.
	Read(ctx context.Context, after *Position, max int) (Page, error)
	// Head returns the position of the last non-system event in the log, nil when there is none.
	Head(ctx context.Context) (*Position, error)
}

// Page is one chunk of the log returned by Log.Read.
type Page struct {
	// Events are the non-system events read, in log order.
	Events []Event
	// Last is the position of the last entry read, system events included; nil when nothing
	// was read. The next Read continues after it.
	Last *Position
	// End reports that the read reached the end of the log.
	End bool
}
