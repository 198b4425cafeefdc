package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// psubScenarios measure persistent subscriptions of the embedded server (issue 20): one
// group on a stream, consumers on their own connections acknowledging every event.
func psubScenarios() []Scenario {
	return []Scenario{
		{Name: "esdb-psub-1-consumer", Issue: 20, Run: benchPsub(1)},
		{Name: "esdb-psub-4-consumers", Issue: 20, Run: benchPsub(4)},
	}
}

// psubRuns is how many times each measurement repeats; figures are medians.
const psubRuns = 3

// benchPsub measures, for a number of competing consumers under RoundRobin, the delivery
// rate of a backlog (events delivered and acknowledged per second) and the latency from
// the start of an append to the delivery of the event while the group is live.
func benchPsub(consumers int) func(ctx context.Context, env *Env) ([]Result, error) {
	return func(ctx context.Context, env *Env) ([]Result, error) {
		f, err := startESDB(ctx, env)
		if err != nil {
			return nil, err
		}
		defer f.close()
		clients := make([]*esdb.Client, consumers)
		for i := range clients {
			c, err := f.newClient()
			if err != nil {
				return nil, err
			}
			defer c.Close()
			clients[i] = c
		}
		backlog := env.Size(20_000, 2_000)
		live := env.Size(2_000, 200)
		var rates, p50s, p99s []float64
		for run := 0; run < psubRuns; run++ {
			rate, err := psubBacklog(ctx, f.client, clients, fmt.Sprintf("psub-backlog-%d", run), backlog)
			if err != nil {
				return nil, err
			}
			rates = append(rates, rate)
			p50, p99, err := psubLive(ctx, f.client, clients, fmt.Sprintf("psub-live-%d", run), live)
			if err != nil {
				return nil, err
			}
			p50s, p99s = append(p50s, p50), append(p99s, p99)
		}
		rate, p99 := Median(rates), Median(p99s)
		return []Result{
			{Metric: fmt.Sprintf("delivered and acked, %d consumer(s)", consumers), Value: rate, Unit: "events/s",
				Target: ">= 10000", Met: Met(rate >= 10_000)},
			{Metric: "append-to-delivery latency p50 (live)", Value: Median(p50s), Unit: "ms"},
			{Metric: "append-to-delivery latency p99 (live)", Value: p99, Unit: "ms",
				Target: "<= 20", Met: Met(p99 <= 20)},
		}, nil
	}
}

// consumeAll subscribes every client to the group and acks each event, calling seen for it,
// until stop is closed; it returns a channel with the first failure.
func consumeAll(ctx context.Context, clients []*esdb.Client, stream, group string, seen func(*esdb.ResolvedEvent), stop <-chan struct{}) (<-chan error, func(), error) {
	errs := make(chan error, len(clients))
	var subs []*esdb.PersistentSubscription
	closeAll := func() {
		for _, s := range subs {
			_ = s.Close()
		}
	}
	for _, c := range clients {
		sub, err := c.SubscribeToPersistentSubscription(ctx, stream, group, esdb.SubscribeToPersistentSubscriptionOptions{BufferSize: 64})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		subs = append(subs, sub)
		go func() {
			for {
				e := sub.Recv()
				if e.SubscriptionDropped != nil {
					select {
					case <-stop:
					default:
						errs <- e.SubscriptionDropped.Error
					}
					return
				}
				if e.EventAppeared == nil {
					continue
				}
				seen(e.EventAppeared.Event)
				if err := sub.Ack(e.EventAppeared.Event); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	return errs, closeAll, nil
}

func psubGroup(ctx context.Context, c *esdb.Client, stream string, from esdb.StreamPosition) (string, error) {
	group := "bench-" + uuid.NewString()[:8]
	st := esdb.SubscriptionSettingsDefault()
	st.ConsumerStrategyName = esdb.ConsumerStrategyRoundRobin
	st.ReadBatchSize = 500
	st.HistoryBufferSize = 2000
	st.LiveBufferSize = 2000
	return group, c.CreatePersistentSubscription(ctx, stream, group, esdb.PersistentStreamSubscriptionOptions{StartFrom: from, Settings: &st})
}

// psubBacklog appends n events, then measures how fast the consumers drain them.
func psubBacklog(ctx context.Context, writer *esdb.Client, clients []*esdb.Client, stream string, n int) (float64, error) {
	for i := 0; i < n; i += 500 {
		batch := make([]esdb.EventData, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, esdbEvent(j))
		}
		if _, err := writer.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, batch...); err != nil {
			return 0, err
		}
	}
	group, err := psubGroup(ctx, writer, stream, esdb.Start{})
	if err != nil {
		return 0, err
	}
	var got atomic.Int64
	all := make(chan struct{})
	stop := make(chan struct{})
	start := time.Now()
	errs, closeAll, err := consumeAll(ctx, clients, stream, group, func(*esdb.ResolvedEvent) {
		if got.Add(1) == int64(n) {
			close(all)
		}
	}, stop)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	defer close(stop)
	select {
	case <-all:
	case err := <-errs:
		return 0, err
	case <-time.After(120 * time.Second):
		return 0, fmt.Errorf("backlog: %d of %d events delivered", got.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// psubLive appends n events one at a time to a live group and measures append-to-delivery.
func psubLive(ctx context.Context, writer *esdb.Client, clients []*esdb.Client, stream string, n int) (p50, p99 float64, err error) {
	group, err := psubGroup(ctx, writer, stream, esdb.Start{})
	if err != nil {
		return 0, 0, err
	}
	var mu sync.Mutex
	sent := make(map[uuid.UUID]time.Time, n)
	lat := make([]time.Duration, 0, n)
	all := make(chan struct{})
	stop := make(chan struct{})
	errs, closeAll, err := consumeAll(ctx, clients, stream, group, func(ev *esdb.ResolvedEvent) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if t0, ok := sent[ev.OriginalEvent().EventID]; ok {
			lat = append(lat, now.Sub(t0))
			if len(lat) == n {
				close(all)
			}
		}
	}, stop)
	if err != nil {
		return 0, 0, err
	}
	defer closeAll()
	defer close(stop)
	time.Sleep(100 * time.Millisecond) // every consumer has joined
	for i := 0; i < n; i++ {
		ev := esdbEvent(i)
		mu.Lock()
		sent[ev.EventID] = time.Now()
		mu.Unlock()
		if _, err := writer.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, ev); err != nil {
			return 0, 0, err
		}
	}
	select {
	case <-all:
	case err := <-errs:
		return 0, 0, err
	case <-time.After(60 * time.Second):
		return 0, 0, errors.New("live: events not all delivered")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mu.Lock()
	defer mu.Unlock()
	return ms(Percentile(lat, 50)), ms(Percentile(lat, 99)), nil
}

// newClient opens one more official client to the fixture's server, on its own connection.
func (f *esdbFixture) newClient() (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString(f.srv.ConnectionString())
	if err != nil {
		return nil, err
	}
	cfg.Logger = esdb.NoopLogging()
	return esdb.NewClient(cfg)
}
