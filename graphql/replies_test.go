package graphql

import (
	"context"
	"testing"
	"time"

	"github.com/arkiv/arkiv/graphql/generated"
)

// TestReplyBroker: deltas reach the subscribers of their conversation only, in order; a
// subscription ends with its context; a subscriber that falls too far behind is dropped
// instead of blocking the publisher.
func TestReplyBroker(t *testing.T) {
	b := NewReplyBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mine := b.Subscribe(ctx, "org", "c1")
	other := b.Subscribe(ctx, "org", "c2")
	foreign := b.Subscribe(ctx, "org2", "c1")
	for _, d := range []string{"Hel", "lo"} {
		b.Publish("org", "c1", &generated.ReplyDelta{ConversationID: "c1", Delta: d})
	}
	b.Publish("org", "c1", &generated.ReplyDelta{ConversationID: "c1", Done: true})
	var got string
	for d := range mine {
		got += d.Delta
		if d.Done {
			break
		}
	}
	if got != "Hello" {
		t.Fatalf("streamed %q", got)
	}
	if len(other) != 0 || len(foreign) != 0 {
		t.Fatalf("deltas leaked to other conversations: %d, %d", len(other), len(foreign))
	}

	sctx, stop := context.WithCancel(context.Background())
	ended := b.Subscribe(sctx, "org", "c3")
	stop()
	select {
	case _, ok := <-ended:
		if ok {
			t.Fatal("a delta after the subscription ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end with its context")
	}

	slow := b.Subscribe(ctx, "org", "c4")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < ReplyBuffer+10; i++ {
			b.Publish("org", "c4", &generated.ReplyDelta{ConversationID: "c4", Delta: "x"})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing blocked on a slow subscriber")
	}
	n := 0
	for range slow {
		n++
	}
	if n != ReplyBuffer || b.Subscribers("org", "c4") != 0 {
		t.Fatalf("slow subscriber got %d deltas and is subscribed %d times; want %d and dropped", n, b.Subscribers("org", "c4"), ReplyBuffer)
	}
}

// TestReplyBrokerRelay: with a relay, Publish hands deltas to it instead of delivering them
// (they come back through Deliver, on every replica); when the relay fails, the broker's
// own subscribers still get them.
func TestReplyBrokerRelay(t *testing.T) {
	b := NewReplyBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := b.Subscribe(ctx, "org", "c1")
	var relayed []string
	fail := false
	b.SetRelay(func(orgID, conversationID string, d *generated.ReplyDelta) error {
		if fail {
			return context.DeadlineExceeded
		}
		relayed = append(relayed, orgID+"/"+conversationID+":"+d.Delta)
		return nil
	})
	b.Publish("org", "c1", &generated.ReplyDelta{ConversationID: "c1", Delta: "a"})
	if len(sub) != 0 {
		t.Fatal("a relayed delta was also delivered directly: replicas would see it twice")
	}
	if len(relayed) != 1 || relayed[0] != "org/c1:a" {
		t.Fatalf("relayed %v", relayed)
	}
	b.Deliver("org", "c1", &generated.ReplyDelta{ConversationID: "c1", Delta: "a"})
	if d := <-sub; d.Delta != "a" {
		t.Fatalf("delivered %q", d.Delta)
	}
	fail = true
	b.Publish("org", "c1", &generated.ReplyDelta{ConversationID: "c1", Delta: "b"})
	select {
	case d := <-sub:
		if d.Delta != "b" {
			t.Fatalf("fallback delivered %q", d.Delta)
		}
	case <-time.After(time.Second):
		t.Fatal("a delta the relay refused was not delivered to this broker's subscribers")
	}
}
