// Package esdbwatermill turns EventStoreDB's $all stream, read through the official client, into
// a Watermill message.Subscriber (one catch-up subscription per Subscribe, one message per
// event, in log order, reconnecting forever with capped exponential backoff) and into paged
// reads, in the official client's types; app/eventlog adapts it to the projection engine's
// Log.
package esdbwatermill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/domain"
	// Reads and subscriptions decode each event without protobuf reflection.
	_ "github.com/arkiv/arkiv/infra/esdbcodec"
	"github.com/cenkalti/backoff/v5"
)

// Page is one chunk of the log returned by Log.Read.
type Page struct {
	// Events are the non-system events read, in log order.
	Events []*esdb.RecordedEvent
	// Last is the position of the last entry read, system events included; nil when nothing
	// was read. The next Read continues after it.
	Last *esdb.Position
	// End reports that the read reached the end of the log.
	End bool
}

// Encoder encodes an event as the Watermill message a Subscriber delivers; backlog is how
// many further events the subscriber already holds behind it. The consumer of the messages
// chooses the encoding (app/eventlog passes the projection engine's).
type Encoder func(ev *esdb.RecordedEvent, backlog int) *message.Message

// less reports whether p comes before q in the log.
func less(p, q esdb.Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// Options tune a Log. The zero value is usable.
type Options struct {
	// Buffer is how many events a subscriber reads ahead of the handler (default 4096).
	Buffer int
	// BackoffInitial and BackoffMax bound the exponential backoff between reconnects
	// (defaults 100ms and 5s).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// Logger receives reconnect notices; nil means slog.Default().
	Logger *slog.Logger
}

// Clients hands out the current official client and replaces one that has given up
// (infra/eventstore.Store does both): the official client closes itself for good after a
// second or so of failed discovery, so a subscriber that outlives an outage needs a new one.
type Clients interface {
	Client() *esdb.Client
	Renew(old *esdb.Client)
}

// fixed is a Clients of one client that is never replaced.
type fixed struct{ c *esdb.Client }

func (f fixed) Client() *esdb.Client { return f.c }
func (fixed) Renew(*esdb.Client)     {}

// Log reads $all through an official EventStoreDB client.
type Log struct {
	clients Clients
	opts    Options
}

// NewLog returns a Log over client, which the caller keeps owning and closes.
func NewLog(client *esdb.Client, opts Options) *Log { return NewLogFrom(fixed{client}, opts) }

// NewLogFrom returns a Log over the clients src hands out, renewing one that has given up,
// so that reads and subscriptions recover from an event-store outage of any length.
func NewLogFrom(src Clients, opts Options) *Log {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Log{clients: src, opts: opts}
}

// renewIfClosed asks for a new client when err says c has given up.
func renewIfClosed(src Clients, c *esdb.Client, err error) {
	var e *esdb.Error
	if errors.As(err, &e) && e.Code() == esdb.ErrorCodeConnectionClosed {
		src.Renew(c)
	}
}

// Subscriber returns a Watermill subscriber over $all that starts after from (nil: from the
// start), excludes system events and encodes each event with encode.
func (l *Log) Subscriber(from *esdb.Position, encode Encoder) message.Subscriber {
	return newSubscriber(l.clients, from, encode, l.opts)
}

// isSystem reports whether an event is an EventStoreDB system event ($-prefixed type).
func isSystem(typ string) bool { return strings.HasPrefix(typ, "$") }

func allPosition(p *esdb.Position) esdb.AllPosition {
	if p == nil {
		return esdb.Start{}
	}
	return *p
}

// Read returns up to max log entries after after, system events counted but not returned.
func (l *Log) Read(ctx context.Context, after *esdb.Position, max int) (Page, error) {
	const op = "esdbwatermill.Read"
	if max <= 0 {
		return Page{}, domain.E(domain.KindInvalid, op, "max must be positive")
	}
	count := uint64(max)
	if after != nil {
		count++ // reading $all forwards from a position includes the event at it
	}
	c := l.clients.Client()
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allPosition(after)}, count)
	if err != nil {
		renewIfClosed(l.clients, c, err)
		return Page{}, domain.Wrap(domain.KindUnavailable, op, err, "read $all")
	}
	defer rs.Close()
	pg := Page{Events: make([]*esdb.RecordedEvent, 0, min(max, 1<<16))}
	raw := uint64(0)
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Page{}, domain.Wrap(domain.KindUnavailable, op, err, "read $all")
		}
		raw++
		r := re.OriginalEvent()
		pos := r.Position
		if after != nil && !less(*after, pos) {
			continue
		}
		pg.Last = &pos
		if !isSystem(r.EventType) {
			pg.Events = append(pg.Events, r)
		}
	}
	pg.End = raw < count
	return pg, nil
}

// Head returns the position of the last non-system event in $all, nil when there is none.
func (l *Log) Head(ctx context.Context) (*esdb.Position, error) {
	const op = "esdbwatermill.Head"
	var from esdb.AllPosition = esdb.End{}
	const page = 256
	for {
		c := l.clients.Client()
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, page)
		renewIfClosed(l.clients, c, err)
		if err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "read $all backwards")
		}
		n := 0
		var last *esdb.RecordedEvent
		for {
			re, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return nil, domain.Wrap(domain.KindUnavailable, op, err, "read $all backwards")
			}
			n++
			r := re.OriginalEvent()
			if !isSystem(r.EventType) {
				rs.Close()
				p := r.Position
				return &p, nil
			}
			last = r
		}
		rs.Close()
		if n < page || last == nil {
			return nil, nil
		}
		// Backwards reads from a position include it; the next page repeats one system event.
		from = last.Position
	}
}

// Subscriber is a Watermill subscriber over a catch-up subscription to $all. Each Subscribe
// opens its own subscription starting after the configured position and delivers one message
// per non-system event, waiting for each message's ack before sending the next; a nacked
// message is delivered again. When the subscription drops it reconnects with exponential
// backoff after the last acked event.
type Subscriber struct {
	clients Clients
	from    *esdb.Position
	encode  Encoder
	opts    Options

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber starting after from (nil: from the start of $all) that
// encodes each event with encode.
func NewSubscriber(client *esdb.Client, from *esdb.Position, encode Encoder, opts Options) *Subscriber {
	return newSubscriber(fixed{client}, from, encode, opts)
}

func newSubscriber(src Clients, from *esdb.Position, encode Encoder, opts Options) *Subscriber {
	opts = NewLogFrom(src, opts).opts
	var f *esdb.Position
	if from != nil {
		c := *from
		f = &c
	}
	return &Subscriber{clients: src, from: f, encode: encode, opts: opts, closed: make(chan struct{})}
}

// Subscribe starts a subscription; topic is ignored (there is one log). The channel closes when
// ctx ends or the subscriber is closed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.closed:
		return nil, domain.E(domain.KindUnavailable, "esdbwatermill.Subscribe", "subscriber is closed")
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer close(out)
		go func() {
			select {
			case <-s.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		s.run(ctx, out)
	}()
	return out, nil
}

// Close stops every subscription of this subscriber and waits for them to end.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wg.Wait()
	return nil
}

type item struct {
	ev  *esdb.RecordedEvent
	err error
}

func (s *Subscriber) run(ctx context.Context, out chan<- *message.Message) {
	after := s.from
	// Reconnect forever, doubling the wait from BackoffInitial up to BackoffMax; a
	// subscription that delivered something starts the doubling over.
	wait := &backoff.ExponentialBackOff{InitialInterval: s.opts.BackoffInitial, Multiplier: 2, MaxInterval: s.opts.BackoffMax}
	for ctx.Err() == nil {
		c := s.clients.Client()
		sub, err := subscribeAll(ctx, c, esdb.SubscribeToAllOptions{
			From:   allPosition(after),
			Filter: esdb.ExcludeSystemEventsFilter(),
		})
		if err != nil {
			renewIfClosed(s.clients, c, err)
			d := wait.NextBackOff()
			s.opts.Logger.Warn("subscription to $all failed; retrying", "err", err, "backoff", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		buf := make(chan item, s.opts.Buffer)
		rctx, stopReader := context.WithCancel(ctx)
		go read(rctx, sub, buf)
		delivered, ok := s.deliver(ctx, buf, out, &after)
		stopReader()
		_ = sub.Close()
		if !ok {
			return
		}
		if delivered {
			wait.Reset()
		}
		d := wait.NextBackOff()
		s.opts.Logger.Warn("subscription to $all dropped; reconnecting", "backoff", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

// subscribeAll subscribes, turning a panic of the official client into an error: v4 sends
// on a closed channel when its connection is closed under a call
// (kurrent-io/EventStore-Client-Go#187); the subscription is retried like any failure.
func subscribeAll(ctx context.Context, c *esdb.Client, o esdb.SubscribeToAllOptions) (sub *esdb.Subscription, err error) {
	defer func() {
		if r := recover(); r != nil {
			sub, err = nil, fmt.Errorf("event store client panicked: %v", r)
		}
	}()
	return c.SubscribeToAll(ctx, o)
}

// read pumps the subscription into buf until it drops; a drop is sent as the last item.
func read(ctx context.Context, sub *esdb.Subscription, buf chan<- item) {
	for {
		e := sub.Recv()
		var it item
		switch {
		case e.EventAppeared != nil:
			r := e.EventAppeared.OriginalEvent()
			if isSystem(r.EventType) {
				continue
			}
			it.ev = r
		case e.SubscriptionDropped != nil:
			it.err = e.SubscriptionDropped.Error
			if it.err == nil {
				it.err = errors.New("subscription dropped")
			}
		default:
			continue // checkpoints, caught-up and fell-behind notices
		}
		select {
		case buf <- it:
		case <-ctx.Done():
			return
		}
		if it.err != nil {
			return
		}
	}
}

// deliver sends buffered events one by one, each after the previous one was acked, and
// advances *after. It returns when the subscription dropped (ok true) or ctx ended (ok false);
// delivered reports whether any event was acked.
func (s *Subscriber) deliver(ctx context.Context, buf chan item, out chan<- *message.Message, after **esdb.Position) (delivered, ok bool) {
	for {
		var it item
		select {
		case it = <-buf:
		case <-ctx.Done():
			return delivered, false
		}
		if it.err != nil {
			if ctx.Err() != nil {
				return delivered, false
			}
			return delivered, true
		}
		if *after != nil && !less(**after, it.ev.Position) {
			continue // already delivered before a reconnect
		}
		for {
			msg := s.encode(it.ev, len(buf))
			msg.SetContext(ctx)
			select {
			case out <- msg:
			case <-ctx.Done():
				return delivered, false
			}
			select {
			case <-msg.Acked():
			case <-msg.Nacked():
				if !sleep(ctx, s.opts.BackoffInitial) {
					return delivered, false
				}
				continue
			case <-ctx.Done():
				return delivered, false
			}
			break
		}
		p := it.ev.Position
		*after = &p
		delivered = true
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
