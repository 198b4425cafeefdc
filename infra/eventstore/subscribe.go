package eventstore

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/domain"
)

// Filter narrows a $all subscription on the server. Empty means every non-system event.
type Filter struct {
	// StreamPrefixes keeps events of streams starting with one of them ("space-", "org-").
	StreamPrefixes []string
	// EventTypePrefixes keeps events whose type starts with one of them ("conversation.").
	// Ignored when StreamPrefixes is set: the server applies one filter.
	EventTypePrefixes []string
}

func (f Filter) client() *esdb.SubscriptionFilter {
	switch {
	case len(f.StreamPrefixes) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: f.StreamPrefixes}
	case len(f.EventTypePrefixes) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: f.EventTypePrefixes}
	}
	return esdb.ExcludeSystemEventsFilter()
}

// Message is one item of a subscription: an event, or a checkpoint (the commit position
// the server has scanned up to, for filtered subscriptions), or the catch-up marker.
type Message struct {
	// Event is the recorded event with its commit position; nil for checkpoints.
	Event *domain.Recorded
	// Checkpoint is the commit position reached when Event is nil and CaughtUp is false.
	Checkpoint uint64
	// CaughtUp is set once when the subscription has delivered every stored event and is
	// live from then on.
	CaughtUp bool
}

// Subscription is a catch-up subscription to $all. It is not safe for concurrent Recv.
type Subscription struct {
	sub *esdb.Subscription
}

// SubscribeAll subscribes to $all after commit position after (0: from the beginning) with
// a server-side filter. System events never reach the caller.
func (s *Store) SubscribeAll(ctx context.Context, after uint64, filter Filter) (_ *Subscription, err error) {
	const op = "eventstore.subscribe_all"
	var from esdb.AllPosition = esdb.Start{}
	if after > 0 {
		from = esdb.Position{Commit: after, Prepare: after}
	}
	c := s.Client()
	defer s.recoverClient(op, c, &err)
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: from, Filter: filter.client()})
	if err != nil {
		return nil, s.failed(op, c, err)
	}
	return &Subscription{sub: sub}, nil
}

// Recv blocks until the next message. A dropped subscription (server gone, ctx cancelled,
// Close) returns an error of kind KindUnavailable: resubscribe from the last position.
func (s *Subscription) Recv() (Message, error) {
	for {
		ev := s.sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return Message{}, mapDrop(ev.SubscriptionDropped.Error)
		case ev.EventAppeared != nil:
			r := recorded(ev.EventAppeared)
			if len(r.Type) > 0 && r.Type[0] == '$' {
				continue
			}
			return Message{Event: &r}, nil
		case ev.CheckPointReached != nil:
			return Message{Checkpoint: ev.CheckPointReached.Commit}, nil
		case ev.CaughtUp != nil:
			return Message{CaughtUp: true}, nil
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() error { return s.sub.Close() }

func mapDrop(err error) error {
	m := mapErr("eventstore.subscription", err)
	if k := domain.KindOf(m); k == domain.KindInternal {
		return domain.Wrap(domain.KindUnavailable, "eventstore.subscription", err, "subscription dropped")
	}
	return m
}
