package esdbserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
)

// Persistent subscription conformance: every case drives the official client, against the
// embedded server or a real one (ARKIV_ESDB_TEST_URL); group and stream names are unique.

// pump receives a persistent subscription's events into a channel until it drops.
type pump struct {
	sub     *esdb.PersistentSubscription
	events  chan *esdb.EventAppeared
	dropped chan error
}

func subscribe(t *testing.T, c *esdb.Client, stream, group string, buffer uint32) *pump {
	t.Helper()
	var sub *esdb.PersistentSubscription
	var err error
	opts := esdb.SubscribeToPersistentSubscriptionOptions{BufferSize: buffer}
	if stream == "" {
		sub, err = c.SubscribeToPersistentSubscriptionToAll(ctxFor(t), group, opts)
	} else {
		sub, err = c.SubscribeToPersistentSubscription(ctxFor(t), stream, group, opts)
	}
	if err != nil {
		t.Fatalf("subscribe to %s::%s: %v", stream, group, err)
	}
	p := &pump{sub: sub, events: make(chan *esdb.EventAppeared, 10_000), dropped: make(chan error, 1)}
	go func() {
		for {
			ev := sub.Recv()
			if ev.SubscriptionDropped != nil {
				p.dropped <- ev.SubscriptionDropped.Error
				return
			}
			if ev.EventAppeared != nil {
				p.events <- ev.EventAppeared
			}
		}
	}()
	t.Cleanup(func() { _ = sub.Close() })
	return p
}

// next waits for the next event.
func (p *pump) next(t *testing.T) *esdb.EventAppeared {
	t.Helper()
	select {
	case ev := <-p.events:
		return ev
	case err := <-p.dropped:
		t.Fatalf("subscription dropped: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	return nil
}

// none asserts that no event arrives for d.
func (p *pump) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-p.events:
		t.Fatalf("unexpected event %s@%d (retry %d)", ev.Event.OriginalEvent().StreamID, ev.Event.OriginalEvent().EventNumber, ev.RetryCount)
	case <-time.After(d):
	}
}

func (p *pump) ack(t *testing.T, evs ...*esdb.EventAppeared) {
	t.Helper()
	for _, ev := range evs {
		if err := p.sub.Ack(ev.Event); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func groupName(t *testing.T) string { return "g-" + uuid.NewString()[:8] }

func settings(mod func(*esdb.PersistentSubscriptionSettings)) *esdb.PersistentSubscriptionSettings {
	s := esdb.SubscriptionSettingsDefault()
	if mod != nil {
		mod(&s)
	}
	return &s
}

func createGroup(t *testing.T, c *esdb.Client, stream, group string, from esdb.StreamPosition, st *esdb.PersistentSubscriptionSettings) {
	t.Helper()
	if err := c.CreatePersistentSubscription(ctxFor(t), stream, group, esdb.PersistentStreamSubscriptionOptions{StartFrom: from, Settings: st}); err != nil {
		t.Fatalf("create %s::%s: %v", stream, group, err)
	}
}

func appendN(t *testing.T, c *esdb.Client, stream string, n int) {
	t.Helper()
	if _, err := c.AppendToStream(ctxFor(t), stream, esdb.AppendToStreamOptions{}, events(n, "psub.test")...); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func TestPersistentSubscriptionStartPointsAndAck(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream := streamName(t, "ps")
	appendN(t, c, stream, 5)
	cases := []struct {
		name  string
		from  esdb.StreamPosition
		first uint64
	}{
		{"start", esdb.Start{}, 0},
		{"revision 3 (inclusive)", esdb.Revision(3), 3},
		{"end", esdb.End{}, 5},
	}
	pumps := make([]*pump, len(cases))
	for i, tc := range cases {
		g := groupName(t)
		createGroup(t, c, stream, g, tc.from, nil)
		pumps[i] = subscribe(t, c, stream, g, 10)
	}
	appendN(t, c, stream, 2) // revisions 5 and 6
	for i, tc := range cases {
		p := pumps[i]
		for want := tc.first; want <= 6; want++ {
			ev := p.next(t)
			if got := ev.Event.OriginalEvent().EventNumber; got != want || ev.RetryCount != 0 {
				t.Fatalf("%s: got revision %d retry %d, want %d retry 0", tc.name, got, ev.RetryCount, want)
			}
			p.ack(t, ev)
		}
		p.none(t, 200*time.Millisecond)
	}
}

func TestPersistentSubscriptionToMissingStreamWaits(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream, g := streamName(t, "ps"), groupName(t)
	createGroup(t, c, stream, g, esdb.Start{}, nil)
	p := subscribe(t, c, stream, g, 10)
	// A group from revision 2 of the same missing stream skips what comes before it.
	g2 := groupName(t)
	createGroup(t, c, stream, g2, esdb.Revision(2), nil)
	p2 := subscribe(t, c, stream, g2, 10)
	p.none(t, 100*time.Millisecond)
	appendN(t, c, stream, 4)
	if ev := p.next(t); ev.Event.OriginalEvent().EventNumber != 0 || string(ev.Event.Event.Data) != `{"i":0}` {
		t.Fatalf("got %+v", ev.Event.Event)
	}
	for want := uint64(2); want < 4; want++ {
		if ev := p2.next(t); ev.Event.OriginalEvent().EventNumber != want {
			t.Fatalf("group from revision 2: got revision %d, want %d", ev.Event.OriginalEvent().EventNumber, want)
		}
	}
}

func TestPersistentSubscriptionCompetingConsumersRoundRobin(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	// Two connections, as two worker processes would have.
	c1 := tg.client
	c2 := newClient(t, connString(tg))
	stream, g := streamName(t, "ps"), groupName(t)
	createGroup(t, c1, stream, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) {
		s.ConsumerStrategyName = esdb.ConsumerStrategyRoundRobin
	}))
	p1, p2 := subscribe(t, c1, stream, g, 5), subscribe(t, c2, stream, g, 5)
	const n = 200
	for i := 0; i < n/50; i++ {
		appendN(t, c1, stream, 50)
	}
	var mu sync.Mutex
	acked := map[uint64]int{}
	per := [2]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, p := range []*pump{p1, p2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case ev := <-p.events:
					if err := p.sub.Ack(ev.Event); err != nil {
						t.Errorf("ack: %v", err)
						return
					}
					mu.Lock()
					acked[ev.Event.OriginalEvent().EventNumber]++
					per[i]++
					total := len(acked)
					mu.Unlock()
					if total == n {
						close(done)
					}
				case <-done:
					return
				case <-time.After(15 * time.Second):
					t.Errorf("consumer %d: stalled", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // anything delivered twice would show up now
	mu.Lock()
	defer mu.Unlock()
	for rev := uint64(0); rev < n; rev++ {
		if acked[rev] != 1 {
			t.Errorf("revision %d acknowledged %d times", rev, acked[rev])
		}
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("round robin gave consumers %d and %d events", per[0], per[1])
	}
	if len(p1.events)+len(p2.events) != 0 {
		t.Fatalf("%d events delivered again after being acknowledged", len(p1.events)+len(p2.events))
	}
}

// connString is the target's connection string for a second client.
func connString(tg *target) string {
	if tg.srv != nil {
		return tg.srv.ConnectionString()
	}
	return realServerURL()
}

func TestPersistentSubscriptionDispatchToSingleAndPinned(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	for _, strategy := range []esdb.ConsumerStrategy{esdb.ConsumerStrategyDispatchToSingle, esdb.ConsumerStrategyPinned} {
		stream, g := streamName(t, "ps"), groupName(t)
		createGroup(t, c, stream, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) {
			s.ConsumerStrategyName = strategy
		}))
		p1 := subscribe(t, c, stream, g, 50)
		p2 := subscribe(t, c, stream, g, 50)
		time.Sleep(100 * time.Millisecond) // both joined
		appendN(t, c, stream, 20)
		got := [2]int{}
		for i := 0; i < 20; i++ {
			select {
			case ev := <-p1.events:
				got[0]++
				p1.ack(t, ev)
			case ev := <-p2.events:
				got[1]++
				p2.ack(t, ev)
			case <-time.After(15 * time.Second):
				t.Fatalf("%s: %d of 20 events", strategy, i)
			}
		}
		// Both strategies keep one stream's events on one consumer while it has room.
		if got[0] != 20 && got[1] != 20 {
			t.Fatalf("%s split 20 events %d/%d", strategy, got[0], got[1])
		}
		info, err := c.GetPersistentSubscriptionInfo(ctxFor(t), stream, g, esdb.GetPersistentSubscriptionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.Settings.ConsumerStrategyName != strategy {
			t.Fatalf("strategy %q, want %q", info.Settings.ConsumerStrategyName, strategy)
		}
	}
}

func TestPersistentSubscriptionNackActions(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream, g := streamName(t, "ps"), groupName(t)
	createGroup(t, c, stream, g, esdb.Start{}, nil)
	p := subscribe(t, c, stream, g, 10)
	appendN(t, c, stream, 3)

	// Retry: the same event comes back with retry count 1.
	ev := p.next(t)
	if err := p.sub.Nack("try again", esdb.NackActionRetry, ev.Event); err != nil {
		t.Fatal(err)
	}
	var retried *esdb.EventAppeared
	var others []*esdb.EventAppeared
	for retried == nil {
		e := p.next(t)
		if e.Event.OriginalEvent().EventID == ev.Event.OriginalEvent().EventID {
			retried = e
		} else {
			others = append(others, e)
		}
	}
	if retried.RetryCount != 1 {
		t.Fatalf("retried event has retry count %d, want 1", retried.RetryCount)
	}
	p.ack(t, retried)
	for len(others) < 2 {
		others = append(others, p.next(t))
	}
	// Skip: gone for good. Park: gone until replayed.
	if err := p.sub.Nack("skip it", esdb.NackActionSkip, others[0].Event); err != nil {
		t.Fatal(err)
	}
	if err := p.sub.Nack("park it", esdb.NackActionPark, others[1].Event); err != nil {
		t.Fatal(err)
	}
	p.none(t, 300*time.Millisecond)
	waitParked(t, c, stream, g, 1)
	if err := c.ReplayParkedMessages(ctxFor(t), stream, g, esdb.ReplayParkedMessagesOptions{}); err != nil {
		t.Fatalf("replay parked: %v", err)
	}
	back := p.next(t)
	if back.Event.OriginalEvent().EventID != others[1].Event.OriginalEvent().EventID {
		t.Fatalf("replayed %s, want the parked event %s", back.Event.OriginalEvent().EventID, others[1].Event.OriginalEvent().EventID)
	}
	if back.Event.OriginalEvent().StreamID != stream {
		t.Fatalf("replayed event from stream %q", back.Event.OriginalEvent().StreamID)
	}
	p.ack(t, back)
	p.none(t, 300*time.Millisecond)
	waitParked(t, c, stream, g, 0)

	// Stop: the server ends the subscription; the event goes to the next consumer.
	appendN(t, c, stream, 1)
	ev = p.next(t)
	if err := p.sub.Nack("stop", esdb.NackActionStop, ev.Event); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("nack with stop did not end the subscription")
	}
	p2 := subscribe(t, c, stream, g, 10)
	if again := p2.next(t); again.Event.OriginalEvent().EventID != ev.Event.OriginalEvent().EventID || again.RetryCount != 1 {
		t.Fatalf("after stop got %s retry %d", again.Event.OriginalEvent().EventID, again.RetryCount)
	}
}

// waitParked waits until GetInfo reports n parked messages.
func waitParked(t *testing.T, c *esdb.Client, stream, group string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var info *esdb.PersistentSubscriptionInfo
		var err error
		if stream == "" {
			info, err = c.GetPersistentSubscriptionInfoToAll(ctxFor(t), group, esdb.GetPersistentSubscriptionOptions{})
		} else {
			info, err = c.GetPersistentSubscriptionInfo(ctxFor(t), stream, group, esdb.GetPersistentSubscriptionOptions{})
		}
		if err != nil {
			t.Fatalf("get info: %v", err)
		}
		if info.Stats.ParkedMessagesCount == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked messages %d, want %d", info.Stats.ParkedMessagesCount, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPersistentSubscriptionTimeoutRetriesThenParks(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream, g := streamName(t, "ps"), groupName(t)
	createGroup(t, c, stream, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) {
		s.MessageTimeout = 300
		s.MaxRetryCount = 2
	}))
	p := subscribe(t, c, stream, g, 10)
	appendN(t, c, stream, 1)
	for want := 0; want <= 2; want++ {
		ev := p.next(t)
		if ev.RetryCount != want {
			t.Fatalf("delivery %d has retry count %d", want, ev.RetryCount)
		}
	}
	// The third timeout is past the max retry count: parked, not delivered again.
	waitParked(t, c, stream, g, 1)
	p.none(t, 500*time.Millisecond)
}

func TestPersistentSubscriptionDisconnectRedelivers(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream, g := streamName(t, "ps"), groupName(t)
	createGroup(t, c, stream, g, esdb.Start{}, nil)
	appendN(t, c, stream, 3)
	first := subscribe(t, c, stream, g, 10)
	got := []*esdb.EventAppeared{first.next(t), first.next(t), first.next(t)}
	first.ack(t, got[0])
	time.Sleep(100 * time.Millisecond) // let the ack land before the disconnect
	_ = first.sub.Close()
	second := subscribe(t, newClient(t, connString(tg)), stream, g, 10)
	for _, want := range got[1:] {
		ev := second.next(t)
		if ev.Event.OriginalEvent().EventID != want.Event.OriginalEvent().EventID || ev.RetryCount != 1 {
			t.Fatalf("got %d retry %d, want %d retry 1", ev.Event.OriginalEvent().EventNumber, ev.RetryCount, want.Event.OriginalEvent().EventNumber)
		}
		second.ack(t, ev)
	}
	second.none(t, 300*time.Millisecond)
}

func TestPersistentSubscriptionSurvivesRestart(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("restarts the embedded server")
	}
	cfg := Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0", DefaultUsers: true}
	srv, err := Start(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv.ConnectionString())
	stream, g := "restart-"+uuid.NewString()[:8], groupName(t)
	createGroup(t, c, stream, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) {
		s.MaxRetryCount = 7
	}))
	appendN(t, c, stream, 10)
	p := subscribe(t, c, stream, g, 20)
	var got []*esdb.EventAppeared
	for i := 0; i < 10; i++ {
		got = append(got, p.next(t))
	}
	p.ack(t, got[:4]...) // 4..9 stay outstanding
	time.Sleep(200 * time.Millisecond)
	_ = c.Close()
	if err := srv.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}

	srv2 := startServer(t, cfg)
	c2 := newClient(t, srv2.ConnectionString())
	info, err := c2.GetPersistentSubscriptionInfo(ctxFor(t), stream, g, esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatalf("group after restart: %v", err)
	}
	if info.Settings.MaxRetryCount != 7 || info.Stats.LastCheckpointedEventRevision == nil || *info.Stats.LastCheckpointedEventRevision != 3 {
		t.Fatalf("after restart: max retry %d, checkpoint %v", info.Settings.MaxRetryCount, info.Stats.LastCheckpointedEventRevision)
	}
	p2 := subscribe(t, c2, stream, g, 20)
	for want := uint64(4); want < 10; want++ {
		ev := p2.next(t)
		if ev.Event.OriginalEvent().EventNumber != want {
			t.Fatalf("after restart got revision %d, want %d", ev.Event.OriginalEvent().EventNumber, want)
		}
		p2.ack(t, ev)
	}
	p2.none(t, 300*time.Millisecond)
}

func TestPersistentSubscriptionToAllWithFilter(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	prefix := "psall-" + uuid.NewString()[:8] + "-"
	g := groupName(t)
	err := c.CreatePersistentSubscriptionToAll(ctxFor(t), g, esdb.PersistentAllSubscriptionOptions{
		StartFrom: esdb.Start{},
		Filter:    &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}},
	})
	if err != nil {
		t.Fatalf("create to $all: %v", err)
	}
	t.Cleanup(func() {
		_ = c.DeletePersistentSubscriptionToAll(context.Background(), g, esdb.DeletePersistentSubscriptionOptions{})
	})
	appendN(t, c, prefix+"a", 2)
	appendN(t, c, "other-"+prefix, 3)
	appendN(t, c, prefix+"b", 1)
	p := subscribe(t, c, "", g, 10)
	want := []string{prefix + "a", prefix + "a", prefix + "b"}
	var last uint64
	for i, w := range want {
		ev := p.next(t)
		if ev.Event.OriginalEvent().StreamID != w {
			t.Fatalf("event %d from %q, want %q", i, ev.Event.OriginalEvent().StreamID, w)
		}
		if ev.Event.Commit == nil || *ev.Event.Commit <= last {
			t.Fatalf("event %d: commit position %v not increasing", i, ev.Event.Commit)
		}
		last = *ev.Event.Commit
		if i == 2 {
			if err := p.sub.Nack("park", esdb.NackActionPark, ev.Event); err != nil {
				t.Fatal(err)
			}
			continue
		}
		p.ack(t, ev)
	}
	p.none(t, 200*time.Millisecond)
	waitParked(t, c, "", g, 1)
	if err := c.ReplayParkedMessagesToAll(ctxFor(t), g, esdb.ReplayParkedMessagesOptions{}); err != nil {
		t.Fatalf("replay parked to $all: %v", err)
	}
	if ev := p.next(t); ev.Event.OriginalEvent().StreamID != prefix+"b" {
		t.Fatalf("replayed from %q", ev.Event.OriginalEvent().StreamID)
	}
	info, err := c.GetPersistentSubscriptionInfoToAll(ctxFor(t), g, esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.EventSource != "$all" || info.GroupName != g {
		t.Fatalf("info %q %q", info.EventSource, info.GroupName)
	}
	if _, ok := info.Settings.StartFrom.(esdb.Start); !ok {
		t.Fatalf("start from %#v", info.Settings.StartFrom)
	}
}

func TestPersistentSubscriptionManagement(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	ctx := ctxFor(t)
	stream, g := streamName(t, "ps"), groupName(t)
	st := settings(func(s *esdb.PersistentSubscriptionSettings) {
		s.ExtraStatistics = true
		s.MessageTimeout = 12_000
		s.MaxRetryCount = 4
		s.LiveBufferSize = 300
		s.ReadBatchSize = 30
		s.HistoryBufferSize = 400
		s.CheckpointAfter = 3_000
		s.CheckpointLowerBound = 5
		s.CheckpointUpperBound = 50
		s.MaxSubscriberCount = 2
		s.ResolveLinkTos = true
	})
	createGroup(t, c, stream, g, esdb.Revision(7), st)
	err := c.CreatePersistentSubscription(ctx, stream, g, esdb.PersistentStreamSubscriptionOptions{})
	if errCode(err) != esdb.ErrorCodeResourceAlreadyExists {
		t.Fatalf("second create: %v (code %d)", err, errCode(err))
	}
	info, err := c.GetPersistentSubscriptionInfo(ctx, stream, g, esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := info.Settings
	if !s.ExtraStatistics || s.MessageTimeout != 12_000 || s.MaxRetryCount != 4 || s.LiveBufferSize != 300 ||
		s.ReadBatchSize != 30 || s.HistoryBufferSize != 400 || s.CheckpointAfter != 3_000 ||
		s.CheckpointLowerBound != 5 || s.CheckpointUpperBound != 50 || s.MaxSubscriberCount != 2 || !s.ResolveLinkTos ||
		s.ConsumerStrategyName != esdb.ConsumerStrategyRoundRobin {
		t.Fatalf("settings read back: %+v", s)
	}
	if rev, ok := s.StartFrom.(esdb.StreamRevision); !ok || rev.Value != 7 {
		t.Fatalf("start from %#v", s.StartFrom)
	}

	// Max subscriber count: a third consumer is refused.
	subscribe(t, c, stream, g, 1)
	subscribe(t, c, stream, g, 1)
	if sub, err := c.SubscribeToPersistentSubscription(ctx, stream, g, esdb.SubscribeToPersistentSubscriptionOptions{}); err == nil {
		ev := sub.Recv()
		_ = sub.Close()
		if ev.SubscriptionDropped == nil {
			t.Fatal("third subscriber accepted past max subscriber count 2")
		}
	}

	// Update changes settings and keeps the group.
	st.MaxRetryCount = 9
	st.ConsumerStrategyName = esdb.ConsumerStrategyDispatchToSingle
	if err := c.UpdatePersistentSubscription(ctx, stream, g, esdb.PersistentStreamSubscriptionOptions{StartFrom: esdb.Start{}, Settings: st}); err != nil {
		t.Fatalf("update: %v", err)
	}
	info, err = c.GetPersistentSubscriptionInfo(ctx, stream, g, esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Settings.MaxRetryCount != 9 || info.Settings.ConsumerStrategyName != esdb.ConsumerStrategyDispatchToSingle {
		t.Fatalf("after update: %+v", info.Settings)
	}
	if _, ok := info.Settings.StartFrom.(esdb.Start); !ok {
		t.Fatalf("after update start from %#v", info.Settings.StartFrom)
	}

	// List: all, for the stream, to $all.
	g2 := groupName(t)
	createGroup(t, c, stream, g2, esdb.Start{}, nil)
	forStream, err := c.ListPersistentSubscriptionsForStream(ctx, stream, esdb.ListPersistentSubscriptionsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if names := groupNames(forStream); len(names) != 2 || !names[g] || !names[g2] {
		t.Fatalf("list for stream: %v", names)
	}
	everything, err := c.ListAllPersistentSubscriptions(ctx, esdb.ListPersistentSubscriptionsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if names := groupNames(everything); !names[g] || !names[g2] {
		t.Fatalf("list all: %v", names)
	}
	gAll := groupName(t)
	if err := c.CreatePersistentSubscriptionToAll(ctx, gAll, esdb.PersistentAllSubscriptionOptions{StartFrom: esdb.End{}}); err != nil {
		t.Fatal(err)
	}
	toAll, err := c.ListPersistentSubscriptionsToAll(ctx, esdb.ListPersistentSubscriptionsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if names := groupNames(toAll); !names[gAll] || names[g] {
		t.Fatalf("list to $all: %v", names)
	}
	if err := c.UpdatePersistentSubscriptionToAll(ctx, gAll, esdb.PersistentAllSubscriptionOptions{StartFrom: esdb.Start{}, Settings: settings(nil)}); err != nil {
		t.Fatalf("update to $all: %v", err)
	}
	if err := c.DeletePersistentSubscriptionToAll(ctx, gAll, esdb.DeletePersistentSubscriptionOptions{}); err != nil {
		t.Fatalf("delete to $all: %v", err)
	}

	// Delete, then everything about the group is not found.
	if err := c.DeletePersistentSubscription(ctx, stream, g, esdb.DeletePersistentSubscriptionOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := c.DeletePersistentSubscription(ctx, stream, g, esdb.DeletePersistentSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("delete of a deleted group: %v (code %d), want ResourceNotFound", err, errCode(err))
	}
	if err := c.DeletePersistentSubscriptionToAll(ctx, groupName(t), esdb.DeletePersistentSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("delete of a missing $all group: %v, want ResourceNotFound", err)
	}
	if err := c.UpdatePersistentSubscription(ctx, stream, g, esdb.PersistentStreamSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("update of a deleted group: %v, want ResourceNotFound", err)
	}
	if _, err := c.GetPersistentSubscriptionInfo(ctx, stream, g, esdb.GetPersistentSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("info of a deleted group: %v, want ResourceNotFound", err)
	}
	if _, err := c.SubscribeToPersistentSubscription(ctx, stream, g, esdb.SubscribeToPersistentSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("subscribe to a deleted group: %v, want ResourceNotFound", err)
	}
	// A group created again under the same name starts afresh.
	createGroup(t, c, stream, g, esdb.Start{}, nil)
	if err := c.RestartPersistentSubscriptionSubsystem(ctx, esdb.RestartPersistentSubscriptionSubsystemOptions{}); err != nil {
		t.Fatalf("restart subsystem: %v", err)
	}
	if _, err := c.GetPersistentSubscriptionInfo(ctx, stream, g, esdb.GetPersistentSubscriptionOptions{}); err != nil {
		t.Fatalf("info after restart subsystem: %v", err)
	}
}

func TestPersistentSubscriptionInfoStatistics(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	stream, g := streamName(t, "ps"), groupName(t)
	appendN(t, c, stream, 20)
	createGroup(t, c, stream, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) {
		s.CheckpointLowerBound = 1
		s.CheckpointUpperBound = 1
		s.ExtraStatistics = true
	}))
	p := subscribe(t, c, stream, g, 5)
	var held []*esdb.EventAppeared
	for i := 0; i < 10; i++ {
		ev := p.next(t)
		if i < 8 {
			p.ack(t, ev)
		} else {
			held = append(held, ev)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.GetPersistentSubscriptionInfo(ctxFor(t), stream, g, esdb.GetPersistentSubscriptionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := info.Stats
		ok := st.LastCheckpointedEventRevision != nil && *st.LastCheckpointedEventRevision == 7 &&
			st.LastKnownEventRevision != nil && *st.LastKnownEventRevision == 19 &&
			st.TotalItems >= 10 && len(info.Connections) == 1 &&
			info.Connections[0].InFlightMessages == 5 && info.Connections[0].AvailableSlots == 0 &&
			st.TotalInFlightMessages == 5
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, connections %+v", st, info.Connections)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.ack(t, held...)
}

func groupNames(infos []esdb.PersistentSubscriptionInfo) map[string]bool {
	out := map[string]bool{}
	for _, i := range infos {
		out[i.GroupName] = true
	}
	return out
}

func TestUsersStreamAtFirstStart(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	evs, err := readStream(t, tg.client, "$users", esdb.ReadStreamOptions{From: esdb.Start{}}, 100)
	if err != nil {
		t.Fatalf("read $users: %v", err)
	}
	names := map[string]bool{}
	for _, ev := range evs {
		names[string(ev.Event.Data)] = true
	}
	if !names["admin"] || !names["ops"] {
		t.Fatalf("$users holds %v, want admin and ops", names)
	}
	if tg.embedded() {
		// A second start adds nothing.
		before := len(evs)
		if err := tg.srv.ensureUsers(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		evs, _ = readStream(t, tg.client, "$users", esdb.ReadStreamOptions{From: esdb.Start{}}, 100)
		if len(evs) != before {
			t.Fatalf("$users grew from %d to %d events", before, len(evs))
		}
	}
}

func TestPersistentSubscriptionResolvesLinks(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	c := tg.client
	target, links, g := streamName(t, "target"), streamName(t, "links"), groupName(t)
	appendN(t, c, target, 2)
	link := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("1@" + target)}
	if _, err := c.AppendToStream(ctxFor(t), links, esdb.AppendToStreamOptions{}, link); err != nil {
		t.Fatal(err)
	}
	createGroup(t, c, links, g, esdb.Start{}, settings(func(s *esdb.PersistentSubscriptionSettings) { s.ResolveLinkTos = true }))
	p := subscribe(t, c, links, g, 10)
	ev := p.next(t)
	if ev.Event.Link == nil || ev.Event.Link.EventID != link.EventID || ev.Event.Event.StreamID != target ||
		ev.Event.Event.EventNumber != 1 || string(ev.Event.Event.Data) != `{"i":1}` {
		t.Fatalf("resolved link: event %+v link %+v", ev.Event.Event, ev.Event.Link)
	}
	p.ack(t, ev) // acknowledged by the link's id, the original event
	p.none(t, 300*time.Millisecond)
}
