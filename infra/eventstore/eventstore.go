// Package eventstore is Arkiv's event-store adapter over the official EventStoreDB client
// (EventStore-Client-Go v4): it loads and appends streams with expected revisions for the
// command handlers, reads and subscribes to $all for the projections, and maps the client's
// errors to domain error kinds. It works against the embedded server (infra/esdbserver) and
// a real EventStoreDB/KurrentDB alike.
package eventstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/domain"
	"github.com/google/uuid"
)

// Store is the adapter. It is safe for concurrent use.
//
// The official client gives up for good once its discovery fails (about a second of
// outage: ten attempts, 100 ms apart) and answers ConnectionClosed from then on. A Store
// opened from a connection string outlives that: the first call that meets a closed client
// replaces it with a fresh one (which dials lazily), so the server reconnects by itself as
// soon as the event store answers again, however long the outage was.
type Store struct {
	url string
	log *slog.Logger
	cur atomic.Pointer[esdb.Client]

	mu     sync.Mutex // serialises renewals and Close
	closed bool
}

// Open connects to the event store at connection string url ("esdb://host:port?tls=false").
// The client dials lazily: an unreachable server shows as KindUnavailable on first use.
func Open(url string) (*Store, error) { return OpenWithLog(url, nil) }

// OpenWithLog is Open with the client's own log lines going to log (nil: slog.Default()).
func OpenWithLog(url string, log *slog.Logger) (*Store, error) {
	c, err := Dial(url, log)
	if err != nil {
		return nil, err
	}
	s := &Store{url: url, log: log}
	s.cur.Store(c)
	return s, nil
}

// New wraps an existing client. Such a Store cannot renew a closed client: use Open.
func New(c *esdb.Client) *Store {
	s := &Store{}
	s.cur.Store(c)
	return s
}

// Client returns the current official client. Callers that meet ErrorCodeConnectionClosed
// on it call Renew and take Client again.
func (s *Store) Client() *esdb.Client { return s.cur.Load() }

// Renew replaces old with a fresh client when old is still the current one and has given
// up (a ConnectionClosed error); it is a no-op otherwise, so concurrent callers renew once.
func (s *Store) Renew(old *esdb.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.url == "" || s.cur.Load() != old {
		return
	}
	c, err := Dial(s.url, s.log)
	if err != nil { // the URL parsed once; this cannot happen
		return
	}
	s.cur.Store(c)
	// Calls in flight may still hold old: closing it under them makes the official client
	// panic (send on a closed channel in getConnectionHandle). It has given up anyway, so
	// close it once they have had time to fail on their own.
	time.AfterFunc(renewGrace, func() { _ = old.Close() })
}

// renewGrace is how long a renewed client stays open for the calls still using it.
const renewGrace = 30 * time.Second

// failed classifies err from a call on client c, renewing c when it has given up.
func (s *Store) failed(op string, c *esdb.Client, err error) error {
	if isCode(err, esdb.ErrorCodeConnectionClosed) {
		s.Renew(c)
	}
	return mapErr(op, err)
}

// recoverClient turns a panic of the official client during a call into a KindUnavailable
// error and renews the client: v4's error handling sends on a closed channel when the
// connection drops under concurrent calls (kurrent-io/EventStore-Client-Go#187, seen here
// when the event store is killed under 16 writers). The call did not complete; the next
// one reconnects.
func (s *Store) recoverClient(op string, c *esdb.Client, err *error) {
	if r := recover(); r != nil {
		s.Renew(c)
		*err = domain.E(domain.KindUnavailable, op, "the event store connection dropped")
	}
}

// Close closes the client; the Store renews nothing after it.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.cur.Load().Close()
}

// Load reads a whole stream forwards. A missing (or soft-deleted) stream yields no events
// and revision domain.NoStream.
func (s *Store) Load(ctx context.Context, stream string) (_ []domain.Recorded, _ int64, err error) {
	const op = "eventstore.load"
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, math.MaxInt64)
	if err != nil {
		return nil, domain.NoStream, s.failed(op, c, err)
	}
	defer rs.Close()
	var out []domain.Recorded
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isCode(err, esdb.ErrorCodeResourceNotFound) {
				return nil, domain.NoStream, nil
			}
			return nil, domain.NoStream, s.failed(op, c, err)
		}
		out = append(out, recorded(ev))
	}
	if len(out) == 0 {
		return nil, domain.NoStream, nil
	}
	return out, int64(out[len(out)-1].Revision), nil
}

// Last reads the last event of a stream.
func (s *Store) Last(ctx context.Context, stream string) (_ domain.Recorded, _ bool, err error) {
	const op = "eventstore.last"
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return domain.Recorded{}, false, s.failed(op, c, err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if errors.Is(err, io.EOF) || isCode(err, esdb.ErrorCodeResourceNotFound) {
		return domain.Recorded{}, false, nil
	}
	if err != nil {
		return domain.Recorded{}, false, s.failed(op, c, err)
	}
	return recorded(ev), true, nil
}

// Append appends events atomically to stream if its revision is expected
// (domain.NoStream: the stream must not exist) and returns the commit position of the
// append. Re-appending the same event ids at the same expected revision is idempotent.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events []domain.Proposed) (_ uint64, err error) {
	const op = "eventstore.append"
	var rev esdb.ExpectedRevision = esdb.NoStream{}
	if expected >= 0 {
		rev = esdb.Revision(uint64(expected))
	}
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.EventID)
		if err != nil {
			return 0, domain.Wrap(domain.KindInternal, op, err, "event id is not a UUID")
		}
		data[i] = esdb.EventData{EventID: id, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data, Metadata: e.Metadata}
	}
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
	if err != nil {
		return 0, s.failed(op, c, err)
	}
	return res.CommitPosition, nil
}

// ReadAll reads up to max events of $all forwards, starting after position after (0: from
// the start), skipping system events ("$" types). It is for tools and tests; projections
// subscribe.
func (s *Store) ReadAll(ctx context.Context, after uint64, max uint64) (_ []domain.Recorded, err error) {
	const op = "eventstore.read_all"
	var from esdb.AllPosition = esdb.Start{}
	if after > 0 {
		from = esdb.Position{Commit: after, Prepare: after}
	}
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from}, max)
	if err != nil {
		return nil, s.failed(op, c, err)
	}
	defer rs.Close()
	var out []domain.Recorded
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, s.failed(op, c, err)
		}
		r := recorded(ev)
		if after > 0 && r.Position <= after {
			continue
		}
		if len(r.Type) > 0 && r.Type[0] == '$' {
			continue
		}
		out = append(out, r)
	}
}

// Ping reads the last event of $all, so it answers on an empty store too; /readyz and
// serve's start-up check use it. A client that has given up is renewed, so readiness turns
// green by itself once the store is back.
func (s *Store) Ping(ctx context.Context) (err error) {
	const op = "eventstore.ping"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return s.failed(op, c, err)
	}
	defer rs.Close()
	for {
		if _, err := rs.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return s.failed(op, c, err)
		}
	}
}

// Empty reports whether the store holds no events other than system ones; `arkiv dev`
// bootstraps an organisation only on an empty store.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	evs, err := s.ReadAll(ctx, 0, 100)
	if err != nil {
		return false, err
	}
	return len(evs) == 0, nil
}

// recorded converts the client's event.
func recorded(ev *esdb.ResolvedEvent) domain.Recorded {
	e := ev.Event
	if e == nil {
		e = ev.OriginalEvent()
	}
	pos := e.Position.Commit
	if ev.Commit != nil {
		pos = *ev.Commit
	}
	created := e.CreatedDate
	if created.IsZero() {
		if ticks, err := strconv.ParseInt(e.SystemMetadata["created"], 10, 64); err == nil {
			created = time.Unix(0, ticks*100)
		}
	}
	return domain.Recorded{Stream: e.StreamID, Revision: e.EventNumber, Position: pos, EventID: e.EventID.String(),
		Type: e.EventType, Data: e.Data, Metadata: e.UserMetadata, Created: created.UTC()}
}
