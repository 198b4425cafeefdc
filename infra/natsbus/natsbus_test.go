package natsbus

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

func natsURL(t *testing.T) string {
	u := os.Getenv("ARKIV_NATS_URL")
	if u == "" {
		t.Fatal("ARKIV_NATS_URL is not set: run the tests inside `arkiv stack exec`")
	}
	return u
}

// TestBusFansOutToEveryReplicaInOrder opens two buses (two replicas): what one publishes
// reaches both, in order, once each; what was published before a bus subscribed does not.
func TestBusFansOutToEveryReplicaInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic := fmt.Sprintf("test.%d", time.Now().UnixNano())
	a, err := Open(ctx, natsURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, natsURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Publish(topic, []byte("before")); err != nil {
		t.Fatal(err)
	}
	got := map[string]chan string{"a": make(chan string, 100), "b": make(chan string, 100)}
	for name, bus := range map[string]*Bus{"a": a, "b": b} {
		ch := got[name]
		if err := bus.Subscribe(ctx, topic, func(p []byte) { ch <- string(p) }); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	for i := range n {
		if err := a.Publish(topic, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for name, ch := range got {
		for i := range n {
			select {
			case p := <-ch:
				if p != fmt.Sprint(i) {
					t.Fatalf("replica %s got %q as message %d", name, p, i)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("replica %s got %d of %d messages", name, i, n)
			}
		}
		select {
		case p := <-ch:
			t.Fatalf("replica %s got an extra message %q", name, p)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
