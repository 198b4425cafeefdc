package graphql

import (
	"github.com/arkiv/arkiv/graphql/generated"

	"context"
	"sync"
)

// ReplyBroker carries the tokens of assistants' replies from sendMessage to the replyStream
// subscribers of the same conversation, in process. It keeps nothing: a subscriber receives
// what is published while it is subscribed. On its own it reaches only the subscribers of
// its own process; with a Relay (SetRelay) every publication goes through the relay — NATS
// JetStream between API replicas, wired in app — and comes back to every replica's broker
// through Deliver, so a client subscribed on any replica receives the tokens.
//
// Publishing never blocks the model's stream: a subscriber that falls ReplyBuffer deltas
// behind is dropped (its subscription completes) rather than sent a reply with gaps.
type ReplyBroker struct {
	mu    sync.Mutex
	subs  map[string]map[*replySub]struct{}
	relay Relay
}

// Relay carries a publication to every replica's broker (including this one's), which
// receive it through Deliver. It returns an error when it could not; Publish then delivers
// to this process's subscribers only.
type Relay func(orgID, conversationID string, d *generated.ReplyDelta) error

// SetRelay routes every later Publish through r; call it before serving.
func (b *ReplyBroker) SetRelay(r Relay) {
	b.mu.Lock()
	b.relay = r
	b.mu.Unlock()
}

// ReplyBuffer is how many deltas a subscriber may fall behind before it is dropped.
const ReplyBuffer = 1024

type replySub struct {
	ch chan *generated.ReplyDelta
}

// NewReplyBroker returns an empty broker.
func NewReplyBroker() *ReplyBroker {
	return &ReplyBroker{subs: map[string]map[*replySub]struct{}{}}
}

func replyKey(orgID, conversationID string) string { return orgID + "/" + conversationID }

// Subscribe returns the deltas published for a conversation of an organisation from now
// until ctx ends (the channel is then closed). The caller has checked that the subscriber
// may read the conversation.
func (b *ReplyBroker) Subscribe(ctx context.Context, orgID, conversationID string) <-chan *generated.ReplyDelta {
	key := replyKey(orgID, conversationID)
	s := &replySub{ch: make(chan *generated.ReplyDelta, ReplyBuffer)}
	b.mu.Lock()
	if b.subs[key] == nil {
		b.subs[key] = map[*replySub]struct{}{}
	}
	b.subs[key][s] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		b.drop(key, s)
		b.mu.Unlock()
	}()
	return s.ch
}

// drop removes and closes a subscriber if it is still subscribed; b.mu is held.
func (b *ReplyBroker) drop(key string, s *replySub) {
	set := b.subs[key]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(b.subs, key)
	}
	close(s.ch)
}

// Publish sends d to every subscriber of the conversation without waiting on them: through
// the relay when one is set, directly otherwise.
func (b *ReplyBroker) Publish(orgID, conversationID string, d *generated.ReplyDelta) {
	b.mu.Lock()
	relay := b.relay
	b.mu.Unlock()
	if relay != nil {
		if err := relay(orgID, conversationID, d); err == nil {
			return
		}
	}
	b.Deliver(orgID, conversationID, d)
}

// Deliver sends d to this process's subscribers of the conversation without waiting.
func (b *ReplyBroker) Deliver(orgID, conversationID string, d *generated.ReplyDelta) {
	key := replyKey(orgID, conversationID)
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[key] {
		select {
		case s.ch <- d:
		default:
			b.drop(key, s)
		}
	}
}

// Subscribers returns how many subscriptions a conversation has.
func (b *ReplyBroker) Subscribers(orgID, conversationID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[replyKey(orgID, conversationID)])
}
