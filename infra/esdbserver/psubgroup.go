package esdbserver

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// groupTick is how often a group looks for timed-out messages and due checkpoints.
const groupTick = 20 * time.Millisecond

// message is one event of a group on its way to a consumer.
type message struct {
	rec      *record // the event sent (the resolved event, for a link)
	link     *record // the link, when a link was resolved
	id       [16]byte
	seq      int64 // revision (stream) or position ($all); -1 for replayed parked messages
	retries  int
	done     bool
	consumer *consumer
	deadline time.Time
}

// consumer is one connected subscriber of a group.
type consumer struct {
	id, from, user, name string
	slots                int
	inflight             int
	total                int64
	out                  chan *persistent.ReadResp // at most slots messages, so the group never blocks
	stop                 chan error
}

// group is one persistent subscription group. Its state is owned by its loop goroutine;
// everything else reaches it through cmds.
type group struct {
	m      *psubs
	s      *Server
	key    groupKey
	set    psubSettings
	filter *eventFilter
	cmds   chan func()
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	reason error // why the group stopped; read by consumers after done

	// Loop state.
	consumers  []*consumer
	rr         int
	cursorRev  int64 // stream groups: last revision read
	cursorPos  int64 // last position read or scanned
	caughtUp   bool
	listener   *listener
	buffer     []*message // read, waiting for a consumer
	retry      []*message // to deliver again, before the buffer
	inflight   map[[16]byte]*message
	pending    []*message // every message read and not yet done, in read order
	checkpoint *int64     // last stored checkpoint
	sinceCp    int        // messages done since the last checkpoint
	lastCp     time.Time
	total      int64
	lastKnown  int64     // last seq read, -1 none
	readAfter  time.Time // after a failed read, the next one waits until then
	replayTB   int64     // parked stream revision up to which messages are being replayed
	replaying  int       // replayed parked messages not yet handled

	replayMu sync.Mutex // one replayParked at a time
	rate     rateMeter
}

func newGroup(m *psubs, key groupKey, st psubSettings, origin int64, cp *int64) (*group, error) {
	f, err := st.Filter.compile()
	if err != nil {
		return nil, err
	}
	g := &group{
		m: m, s: m.s, key: key, set: st, filter: f,
		cmds:       make(chan func(), 1024),
		done:       make(chan struct{}),
		inflight:   map[[16]byte]*message{},
		checkpoint: cp,
		lastKnown:  -1,
	}
	cursor := origin
	if cp != nil {
		cursor = *cp
	}
	if key.stream == allStream {
		g.cursorPos = cursor
	} else {
		g.cursorRev = cursor
	}
	g.ctx, g.cancel = context.WithCancel(m.s.ctx)
	g.listener = m.s.hub.listen(m.s.cfg.liveBuffer)
	g.lastCp = m.s.clock.Now()
	go g.run()
	return g, nil
}

// stop ends the loop (the consumers get reason) and waits for its final checkpoint.
func (g *group) stop(reason error) {
	select {
	case g.cmds <- func() { g.reason = reason; g.cancel() }:
	case <-g.done:
	}
	<-g.done
}

// do runs f on the loop and waits for it; it fails when the group has stopped.
func (g *group) do(f func()) error {
	ran := make(chan struct{})
	select {
	case g.cmds <- func() { f(); close(ran) }:
	case <-g.done:
		return g.stoppedErr()
	}
	select {
	case <-ran:
		return nil
	case <-g.done:
		select {
		case <-ran:
			return nil
		default:
			return g.stoppedErr()
		}
	}
}

// post runs f on the loop without waiting.
func (g *group) post(f func()) {
	select {
	case g.cmds <- f:
	case <-g.done:
	}
}

func (g *group) stoppedErr() error {
	if g.reason != nil {
		return g.reason
	}
	return status.Error(codes.Unavailable, "persistent subscription stopped")
}

func (g *group) run() {
	defer close(g.done)
	defer g.s.hub.unlisten(g.listener)
	tick := time.NewTicker(groupTick)
	defer tick.Stop()
	for {
		if g.wantsRead() {
			if err := g.readPage(); err != nil && g.ctx.Err() == nil {
				g.s.log.Warn("event store: persistent subscription read failed", "group", g.key.group, "err", err)
				g.readAfter = time.Now().Add(500 * time.Millisecond)
			}
		}
		g.dispatch()
		g.maybeCheckpoint(false)
		more := g.wantsRead()
		var idle <-chan time.Time
		if more {
			idle = closedTime
		}
		select {
		case f := <-g.cmds:
			f()
			for i := 0; i < 256; i++ {
				select {
				case f := <-g.cmds:
					f()
					continue
				default:
				}
				break
			}
		case batch := <-g.listener.ch:
			g.live(batch)
		case <-g.listener.dropped:
			if g.ctx.Err() == nil {
				g.listener = g.s.hub.listen(g.s.cfg.liveBuffer)
				g.caughtUp = false
			}
		case <-tick.C:
			g.expire()
			g.rate.tick(g.s.clock.Now(), g.total)
		case <-idle:
		case <-g.ctx.Done():
		}
		if g.ctx.Err() != nil {
			g.shutdown()
			return
		}
	}
}

// wantsRead reports whether the group is behind the head with room in its buffer.
func (g *group) wantsRead() bool {
	return !g.caughtUp && len(g.buffer) < g.set.historyBuffer() && !time.Now().Before(g.readAfter)
}

// closedTime is a channel that is always ready.
var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// shutdown writes the final checkpoint and ends the consumers.
func (g *group) shutdown() {
	g.maybeCheckpoint(true)
	reason := g.stoppedErr()
	for _, c := range g.consumers {
		select {
		case c.stop <- reason:
		default:
		}
	}
	g.consumers = nil
}

// readPage reads the next events from the store while the group is behind the head.
func (g *group) readPage() error {
	head := g.s.hub.head.Load()
	n := g.set.readBatch()
	var page []*record
	var err error
	if g.key.stream == allStream {
		page, err = g.s.st.readAll(g.ctx, g.cursorPos+1, head, false, n)
	} else {
		page, err = g.s.st.readStream(g.ctx, g.key.stream, streamRange{
			lo: g.cursorRev + 1, hi: math.MaxInt64, minCreated: math.MinInt64, minPos: 0, maxPos: head,
		}, false, n)
	}
	if err != nil {
		return err
	}
	for _, r := range page {
		g.take(r)
	}
	if len(page) < n {
		g.caughtUp = true
		g.cursorPos = max(g.cursorPos, head)
	}
	return nil
}

// live takes a committed batch while the group is caught up.
func (g *group) live(batch []*record) {
	if !g.caughtUp {
		return // the store has it; readPage reads past it
	}
	for _, r := range batch {
		if r.pos <= g.cursorPos {
			continue
		}
		if len(g.buffer) >= g.set.liveBuffer() {
			g.caughtUp = false
			return
		}
		if g.key.stream != allStream && r.stream != g.key.stream {
			g.cursorPos = r.pos
			continue
		}
		g.take(r)
	}
}

// take advances the cursor over r and buffers it when the group wants it.
func (g *group) take(r *record) {
	g.cursorPos = r.pos
	seq := r.pos
	if g.key.stream != allStream {
		if r.revision == tombstoneRevision || r.revision <= g.cursorRev {
			return // a start revision the stream had not reached yet when the group started
		}
		g.cursorRev = r.revision
		seq = r.revision
	} else if !g.filter.match(r) || isParkedStream(r.stream) {
		return
	}
	g.lastKnown = seq
	m := &message{rec: r, id: r.id, seq: seq}
	if g.set.ResolveLinks && r.typ == linkEventType {
		if target := g.resolve(r); target != nil {
			m.rec, m.link = target, r
		}
	}
	g.buffer = append(g.buffer, m)
	g.pending = append(g.pending, m)
}

// isParkedStream reports whether stream holds (or describes) parked messages; $all groups
// skip them, so parking never feeds a group its own parked links.
func isParkedStream(stream string) bool {
	return strings.HasPrefix(strings.TrimPrefix(stream, "$$"), "$persistentsubscription-")
}

func newLinkID() [16]byte { return uuid.New() }

// linkEventType is the type of a link event, whose data is "revision@stream".
const linkEventType = "$>"

// resolve reads the event a link points to; nil when it is gone.
func (g *group) resolve(link *record) *record {
	revStr, stream, ok := strings.Cut(string(link.data), "@")
	rev, err := strconv.ParseInt(revStr, 10, 64)
	if !ok || err != nil || stream == "" {
		return nil
	}
	page, err := g.s.st.readStream(g.ctx, stream, streamRange{lo: rev, hi: rev, minCreated: math.MinInt64, minPos: 0, maxPos: math.MaxInt64}, false, 1)
	if err != nil || len(page) == 0 {
		return nil
	}
	return page[0]
}

// dispatch hands waiting messages (retries first) to consumers with free slots.
func (g *group) dispatch() {
	for len(g.consumers) > 0 {
		var m *message
		fromRetry := len(g.retry) > 0
		if fromRetry {
			m = g.retry[0]
		} else if len(g.buffer) > 0 {
			m = g.buffer[0]
		} else {
			return
		}
		c := g.pick(m)
		if c == nil {
			return
		}
		if fromRetry {
			g.retry[0] = nil
			g.retry = g.retry[1:]
		} else {
			g.buffer[0] = nil
			g.buffer = g.buffer[1:]
		}
		g.send(c, m)
	}
}

// pick chooses the consumer for m under the group's strategy; nil when none has room.
func (g *group) pick(m *message) *consumer {
	n := len(g.consumers)
	switch g.set.Strategy {
	case strategyDispatchToSingle:
		for _, c := range g.consumers {
			if c.inflight < c.slots {
				return c
			}
		}
		return nil
	case strategyPinned:
		h := fnv.New32a()
		src := m.rec.stream
		if m.link != nil {
			src = m.link.stream
		}
		_, _ = h.Write([]byte(src))
		c := g.consumers[int(h.Sum32()%uint32(n))]
		if c.inflight < c.slots {
			return c
		}
		return nil
	default:
		for i := 0; i < n; i++ {
			c := g.consumers[(g.rr+i)%n]
			if c.inflight < c.slots {
				g.rr = (g.rr + i + 1) % n
				return c
			}
		}
		return nil
	}
}

func (g *group) send(c *consumer, m *message) {
	m.consumer = c
	if g.set.MessageTimeoutMs > 0 {
		m.deadline = g.s.clock.Now().Add(time.Duration(g.set.MessageTimeoutMs) * time.Millisecond)
	}
	c.inflight++
	c.total++
	g.total++
	g.inflight[m.id] = m
	c.out <- g.encode(m)
}

// encode builds the ReadResp of m with its retry count.
func (g *group) encode(m *message) *persistent.ReadResp {
	ev := &persistent.ReadResp_ReadEvent{Event: recordedEvent(m.rec)}
	if m.link != nil {
		ev.Link = recordedEvent(m.link)
	}
	orig := m.rec
	if m.link != nil {
		orig = m.link
	}
	ev.Position = &persistent.ReadResp_ReadEvent_CommitPosition{CommitPosition: uint64(orig.pos)}
	ev.Count = &persistent.ReadResp_ReadEvent_RetryCount{RetryCount: int32(min(m.retries, math.MaxInt32))}
	return &persistent.ReadResp{Content: &persistent.ReadResp_Event{Event: ev}}
}

func recordedEvent(r *record) *persistent.ReadResp_ReadEvent_RecordedEvent {
	most, least := uuidHalves(r.id)
	return &persistent.ReadResp_ReadEvent_RecordedEvent{
		Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits: most, LeastSignificantBits: least}}},
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
		StreamRevision:   uint64(r.revision),
		PreparePosition:  uint64(r.pos),
		CommitPosition:   uint64(r.pos),
		Metadata: map[string]string{
			"type": r.typ, "content-type": r.ctype, "created": strconv.FormatInt(r.created, 10),
		},
		CustomMetadata: r.meta,
		Data:           r.data,
	}
}

// join adds c, unless the group is full.
func (g *group) join(c *consumer) error {
	var err error
	if derr := g.do(func() {
		if max := int(g.set.MaxSubscriberCount); max > 0 && len(g.consumers) >= max {
			err = status.Errorf(codes.FailedPrecondition, "persistent subscription %s::%s has its maximum of %d subscribers", g.key.stream, g.key.group, max)
			return
		}
		g.consumers = append(g.consumers, c)
	}); derr != nil {
		return derr
	}
	return err
}

// leave removes c; its unacknowledged messages are delivered again.
func (g *group) leave(c *consumer) {
	g.post(func() { g.drop(c) })
}

// drop removes c from the group and queues its in-flight messages again.
func (g *group) drop(c *consumer) {
	for i, x := range g.consumers {
		if x == c {
			g.consumers = append(g.consumers[:i], g.consumers[i+1:]...)
			break
		}
	}
	var back []*message
	for _, m := range g.inflight {
		if m.consumer == c {
			back = append(back, m)
		}
	}
	sort.Slice(back, func(i, j int) bool { return back[i].seq < back[j].seq })
	for _, m := range back {
		g.redeliver(m, "consumer disconnected")
	}
}

// ack marks messages handled.
func (g *group) ack(c *consumer, ids [][16]byte) {
	g.post(func() {
		for _, id := range ids {
			if m := g.takeInflight(c, id); m != nil {
				g.finish(m)
			} else if m := g.takeRetry(id); m != nil {
				g.finish(m) // a late ack of a message waiting to go again: it need not
			}
		}
	})
}

// nack applies a consumer's negative acknowledgement.
func (g *group) nack(c *consumer, ids [][16]byte, action persistent.ReadReq_Nack_Action, reason string) {
	g.post(func() {
		for _, id := range ids {
			m := g.takeInflight(c, id)
			if m == nil {
				continue
			}
			switch action {
			case persistent.ReadReq_Nack_Park:
				g.park(m, reason)
			case persistent.ReadReq_Nack_Skip:
				g.finish(m)
			case persistent.ReadReq_Nack_Stop:
				g.redeliver(m, reason)
				g.drop(c)
				select {
				case c.stop <- status.Error(codes.Aborted, "persistent subscription stopped by the consumer"):
				default:
				}
			default: // retry, or unknown: the server decides to retry
				g.redeliver(m, reason)
			}
		}
	})
}

// takeRetry removes message id from the retry queue.
func (g *group) takeRetry(id [16]byte) *message {
	for i, m := range g.retry {
		if m.id == id {
			g.retry = append(g.retry[:i], g.retry[i+1:]...)
			return m
		}
	}
	return nil
}

// takeInflight removes the in-flight message id of c.
func (g *group) takeInflight(c *consumer, id [16]byte) *message {
	m := g.inflight[id]
	if m == nil || m.consumer != c {
		return nil
	}
	delete(g.inflight, id)
	c.inflight--
	m.consumer = nil
	return m
}

// redeliver queues m again with one more retry, or parks it past the max retry count.
func (g *group) redeliver(m *message, reason string) {
	if c := m.consumer; c != nil {
		delete(g.inflight, m.id)
		c.inflight--
		m.consumer = nil
	}
	if m.retries >= int(g.set.MaxRetryCount) {
		g.park(m, "max retry count reached: "+reason)
		return
	}
	m.retries++
	// Keep the retry queue in read order, so redeliveries come back oldest first.
	i := sort.Search(len(g.retry), func(i int) bool { return g.retry[i].seq > m.seq })
	g.retry = append(g.retry, nil)
	copy(g.retry[i+1:], g.retry[i:])
	g.retry[i] = m
}

// expire redelivers messages whose timeout passed.
func (g *group) expire() {
	if g.set.MessageTimeoutMs <= 0 || len(g.inflight) == 0 {
		return
	}
	now := g.s.clock.Now()
	var late []*message
	for _, m := range g.inflight {
		if now.After(m.deadline) {
			late = append(late, m)
		}
	}
	sort.Slice(late, func(i, j int) bool { return late[i].seq < late[j].seq })
	for _, m := range late {
		g.redeliver(m, "message timeout")
	}
}

// park links m into the group's parked stream and counts it handled.
func (g *group) park(m *message, reason string) {
	link := proposed{id: newLinkID(), typ: linkEventType, ctype: "application/octet-stream",
		data: []byte(fmt.Sprintf("%d@%s", m.rec.revision, m.rec.stream))}
	link.meta, _ = json.Marshal(map[string]string{"reason": reason})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	res := g.s.w.submit(ctx, &writeReq{kind: kindAppend, stream: g.key.parkedStream(), expect: expectation{kind: expectAny},
		events: []proposed{link}, size: len(link.data) + len(link.meta) + 64})
	cancel()
	if res.err != nil {
		// Not parked: keep it for redelivery rather than lose it.
		g.s.log.Warn("event store: park message", "group", g.key.group, "err", res.err)
		g.retry = append(g.retry, m)
		return
	}
	g.finish(m)
}

// finish marks m handled for the checkpoint.
func (g *group) finish(m *message) {
	if m.done {
		return
	}
	m.done = true
	if m.seq < 0 {
		if g.replaying--; g.replaying == 0 {
			g.truncateParked()
		}
		return
	}
	g.sinceCp++
	for len(g.pending) > 0 && g.pending[0].done {
		g.pending[0] = nil
		g.pending = g.pending[1:]
	}
}

// lowWater is the cursor up to which every event read has been handled.
func (g *group) lowWater() int64 {
	if len(g.pending) > 0 {
		return g.pending[0].seq - 1
	}
	if g.key.stream == allStream {
		return g.cursorPos
	}
	return g.cursorRev
}

// maybeCheckpoint stores the low-water mark when enough messages are done: at once past the
// max checkpoint count, after checkpoint-after past the min count, or when final.
func (g *group) maybeCheckpoint(final bool) {
	lw := g.lowWater()
	if g.checkpoint != nil && *g.checkpoint >= lw {
		return
	}
	if g.checkpoint == nil && g.sinceCp == 0 && !final {
		return
	}
	now := g.s.clock.Now()
	due := final ||
		g.set.MaxCheckpointCount > 0 && g.sinceCp >= int(g.set.MaxCheckpointCount) ||
		g.sinceCp >= int(g.set.MinCheckpointCount) && g.sinceCp > 0 &&
			now.Sub(g.lastCp) >= time.Duration(g.set.CheckpointAfterMs)*time.Millisecond
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.s.pool.Exec(ctx, `UPDATE `+g.s.st.schema+`.persistent_subscriptions SET checkpoint = $3
		WHERE stream = $1 AND group_name = $2`, g.key.stream, g.key.group, lw); err != nil {
		g.s.log.Warn("event store: persistent subscription checkpoint", "group", g.key.group, "err", err)
		return
	}
	g.checkpoint = &lw
	g.sinceCp = 0
	g.lastCp = now
}

// replayParked reads up to limit parked messages after those already being replayed and
// queues them for delivery. The parked stream is truncated past them ($tb) only once all
// of them are handled, so a restart mid-replay replays them again rather than losing them.
func (g *group) replayParked(ctx context.Context, limit int64) error {
	g.replayMu.Lock()
	defer g.replayMu.Unlock()
	parked := g.key.parkedStream()
	info, err := g.s.st.info(ctx, parked)
	if err != nil {
		return status.Error(codes.Unavailable, "event store: read parked messages")
	}
	if !info.exists || info.deleted {
		return nil
	}
	rng := g.s.visibleRange(parked, info)
	var from int64
	if err := g.do(func() { from = g.replayTB }); err != nil {
		return err
	}
	rng.lo = max(rng.lo, from)
	var msgs []*message
	last := int64(-1)
	for rng.lo <= rng.hi && int64(len(msgs)) < limit {
		page, err := g.s.st.readStream(ctx, parked, rng, false, int(min(limit-int64(len(msgs)), readPage)))
		if err != nil {
			return status.Error(codes.Unavailable, "event store: read parked messages")
		}
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			last = l.revision
			if target := g.resolve(l); target != nil {
				msgs = append(msgs, &message{rec: target, id: target.id, seq: -1})
			}
		}
		rng.lo = page[len(page)-1].revision + 1
	}
	if last < 0 {
		return nil
	}
	return g.do(func() {
		g.replayTB = last + 1
		g.replaying += len(msgs)
		g.retry = append(msgs, g.retry...)
		if g.replaying == 0 {
			g.truncateParked()
		}
	})
}

// truncateParked hides the replayed parked messages: every one of them is handled.
func (g *group) truncateParked() {
	meta, _ := json.Marshal(map[string]int64{"$tb": g.replayTB})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := g.s.w.submit(ctx, &writeReq{kind: kindAppend, stream: metaStreamOf(g.key.parkedStream()), expect: expectation{kind: expectAny},
		events: []proposed{{id: newLinkID(), typ: "$metadata", ctype: "application/json", data: meta, meta: []byte{}}}})
	if res.err != nil {
		g.s.log.Warn("event store: truncate parked messages", "group", g.key.group, "err", res.err)
	}
}

// info reports the group's settings and statistics.
func (g *group) info(ctx context.Context) (*persistent.SubscriptionInfo, error) {
	var parked int64
	if pi, err := g.s.st.info(ctx, g.key.parkedStream()); err == nil && pi.exists && !pi.deleted {
		r := g.s.visibleRange(g.key.parkedStream(), pi)
		parked = max(r.hi-r.lo+1, 0)
	}
	all := g.key.stream == allStream
	pos := func(v int64) string {
		if all {
			return fmt.Sprintf("C:%d/P:%d", v, v)
		}
		return strconv.FormatInt(v, 10)
	}
	var out *persistent.SubscriptionInfo
	err := g.do(func() {
		st := g.set
		out = &persistent.SubscriptionInfo{
			EventSource:                 g.key.stream,
			GroupName:                   g.key.group,
			Status:                      "Live",
			AveragePerSecond:            int32(g.rate.perSecond),
			TotalItems:                  g.total,
			CountSinceLastMeasurement:   g.total - g.rate.lastTotal,
			ResolveLinkTos:              st.ResolveLinks,
			StartFrom:                   st.startFrom(all),
			MessageTimeoutMilliseconds:  st.MessageTimeoutMs,
			ExtraStatistics:             st.ExtraStatistics,
			MaxRetryCount:               st.MaxRetryCount,
			LiveBufferSize:              st.LiveBufferSize,
			BufferSize:                  st.HistoryBufferSize,
			ReadBatchSize:               st.ReadBatchSize,
			CheckPointAfterMilliseconds: st.CheckpointAfterMs,
			MinCheckPointCount:          st.MinCheckpointCount,
			MaxCheckPointCount:          st.MaxCheckpointCount,
			ReadBufferCount:             int32(len(g.buffer)),
			LiveBufferCount:             int64(len(g.buffer)),
			RetryBufferCount:            int32(len(g.retry)),
			TotalInFlightMessages:       int32(len(g.inflight)),
			OutstandingMessagesCount:    int32(len(g.inflight)),
			NamedConsumerStrategy:       st.Strategy,
			MaxSubscriberCount:          st.MaxSubscriberCount,
			ParkedMessageCount:          parked,
		}
		if !g.caughtUp {
			out.Status = "CatchingUp"
		}
		if g.checkpoint != nil && (*g.checkpoint >= 0 && !all || *g.checkpoint > 0) {
			out.LastCheckpointedEventPosition = pos(*g.checkpoint)
		}
		if g.lastKnown >= 0 {
			out.LastKnownEventPosition = pos(g.lastKnown)
		}
		for _, c := range g.consumers {
			ci := &persistent.SubscriptionInfo_ConnectionInfo{
				From: c.from, Username: c.user, TotalItems: c.total, ConnectionName: c.name,
				AvailableSlots: int32(c.slots - c.inflight), InFlightMessages: int32(c.inflight),
			}
			if st.ExtraStatistics {
				ci.ObservedMeasurements = []*persistent.SubscriptionInfo_Measurement{{Key: "totalItems", Value: c.total}}
			}
			out.Connections = append(out.Connections, ci)
		}
	})
	return out, err
}

// rateMeter measures delivered messages per second over the last second.
type rateMeter struct {
	at        time.Time
	lastTotal int64
	perSecond int64
}

func (r *rateMeter) tick(now time.Time, total int64) {
	if r.at.IsZero() {
		r.at, r.lastTotal = now, total
		return
	}
	if d := now.Sub(r.at); d >= time.Second {
		r.perSecond = int64(float64(total-r.lastTotal) / d.Seconds())
		r.at, r.lastTotal = now, total
	}
}

func sortInfos(infos []*persistent.SubscriptionInfo) {
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].EventSource != infos[j].EventSource {
			return infos[i].EventSource < infos[j].EventSource
		}
		return infos[i].GroupName < infos[j].GroupName
	})
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// connectionName is the client's connection name header, when it sends one.
func connectionName(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("connection-name"); len(v) > 0 {
		return v[0]
	}
	return ""
}
