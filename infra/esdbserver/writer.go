package esdbserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// Group-commit limits: one transaction takes at most this many requests, events or bytes.
const (
	maxGroupRequests = 1024
	maxGroupEvents   = 8192
	maxGroupBytes    = 32 << 20
	recentIDs        = 128 // event ids kept per stream for in-memory idempotency checks
	maxCachedStreams = 100_000
	// groupLinger bounds how long the writer waits for the rest of a group of concurrent
	// writers (only when the previous group had more than one request).
	groupLinger = 1 * time.Millisecond
)

type writeKind int

const (
	kindAppend writeKind = iota
	kindDelete
	kindTombstone
)

type expectKind int

const (
	expectAny expectKind = iota
	expectRevision
	expectNoStream
	expectExists
)

// expectation is an expected stream revision.
type expectation struct {
	kind expectKind
	rev  int64
}

func (e expectation) String() string {
	switch e.kind {
	case expectRevision:
		return fmt.Sprint(e.rev)
	case expectNoStream:
		return "no_stream"
	case expectExists:
		return "stream_exists"
	default:
		return "any"
	}
}

// proposed is one event of an append request.
type proposed struct {
	id    [16]byte
	typ   string
	ctype string
	data  []byte
	meta  []byte
}

// writeReq is one append, delete or tombstone, queued to the writer.
type writeReq struct {
	kind   writeKind
	stream string
	expect expectation
	events []proposed
	size   int
	done   chan writeRes
}

// writeRes is the outcome of a writeReq.
type writeRes struct {
	err      error
	revision int64 // current revision after the write (-1: no stream)
	pos      int64 // position of the last event written (or found, when idempotent)
}

// wrongVersionError reports an expected revision that did not hold; current is -1 when the
// stream does not exist.
type wrongVersionError struct {
	stream   string
	expected expectation
	current  int64
}

func (e *wrongVersionError) Error() string {
	return fmt.Sprintf("wrong expected version for stream %q: expected %s, current %d", e.stream, e.expected, e.current)
}

// streamDeletedError reports a tombstoned stream.
type streamDeletedError struct{ stream string }

func (e *streamDeletedError) Error() string { return fmt.Sprintf("stream %q is deleted", e.stream) }

var errClosed = errors.New("event store is shutting down")

// streamState is the writer's view of one stream.
type streamState struct {
	last       int64 // -1: no events
	deleted    bool
	tombstoned bool
	recent     [][16]byte // ids of revisions last-len(recent)+1 … last
	recentPos  []int64    // their positions (0 when unknown)
}

// writer serialises every write through one goroutine that drains the queue into one
// transaction per group, so concurrent writers share commits.
type writer struct {
	st        *store
	hub       *hub
	log       *slog.Logger
	clock     domain.Clock
	queue     chan *writeReq
	next      int64 // next position to assign
	lastGroup int   // requests in the previous group
	streams   map[string]*streamState
	stop      chan struct{}
	stopped   chan struct{}
}

func newWriter(st *store, h *hub, log *slog.Logger, clock domain.Clock, head int64) *writer {
	return &writer{
		st: st, hub: h, log: log, clock: clock,
		queue:   make(chan *writeReq, 4096),
		next:    head + 1,
		streams: map[string]*streamState{},
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// submit queues req and waits for its outcome.
func (w *writer) submit(ctx context.Context, req *writeReq) writeRes {
	req.done = make(chan writeRes, 1)
	select {
	case w.queue <- req:
	case <-w.stop:
		return writeRes{err: errClosed}
	case <-ctx.Done():
		return writeRes{err: ctx.Err()}
	}
	// Once queued, the write will be decided; wait for it even if the caller goes away so
	// that an acknowledged outcome is never lost mid-commit.
	select {
	case res := <-req.done:
		return res
	case <-w.stopped:
		select {
		case res := <-req.done:
			return res
		default:
			return writeRes{err: errClosed}
		}
	}
}

// run is the writer goroutine.
func (w *writer) run() {
	defer close(w.stopped)
	for {
		var first *writeReq
		select {
		case first = <-w.queue:
		case <-w.stop:
			w.drainClosed()
			return
		}
		group := []*writeReq{first}
		events, bytes := len(first.events), first.size
		// Concurrent writers get their acknowledgements together and send their next
		// appends a moment later; when the previous group was large, linger briefly for
		// them so that the next commit carries them all instead of one.
		target := min(w.lastGroup, maxGroupRequests)
		var linger *time.Timer
	drain:
		for len(group) < maxGroupRequests && events < maxGroupEvents && bytes < maxGroupBytes {
			select {
			case r := <-w.queue:
				group = append(group, r)
				events += len(r.events)
				bytes += r.size
				continue
			default:
			}
			if len(group) >= target {
				break
			}
			if linger == nil {
				linger = time.NewTimer(groupLinger)
			}
			select {
			case r := <-w.queue:
				group = append(group, r)
				events += len(r.events)
				bytes += r.size
			case <-linger.C:
				break drain
			}
		}
		if linger != nil {
			linger.Stop()
		}
		w.lastGroup = len(group)
		w.commit(group)
	}
}

func (w *writer) drainClosed() {
	for {
		select {
		case r := <-w.queue:
			r.done <- writeRes{err: errClosed}
		default:
			return
		}
	}
}

// pending is what one group writes.
type pending struct {
	records []*record
	touched map[string]*streamState // final state of every stream written
	order   []string
}

func (p *pending) touch(name string, s *streamState) {
	if _, ok := p.touched[name]; !ok {
		p.order = append(p.order, name)
	}
	p.touched[name] = s
}

func (w *writer) commit(group []*writeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.loadStates(ctx, group); err != nil {
		w.failAll(group, err)
		return
	}
	p := &pending{touched: map[string]*streamState{}}
	results := make([]writeRes, len(group))
	created := w.clock.Now().UnixNano() / 100
	for i, req := range group {
		results[i] = w.apply(ctx, req, p, created)
	}
	if len(p.records) > 0 {
		if err := w.write(ctx, p); err != nil && !w.committedAnyway(p) {
			for name := range p.touched {
				delete(w.streams, name)
			}
			w.log.Error("event store: group commit failed", "err", err, "events", len(p.records))
			w.failAll(group, fmt.Errorf("commit: %w", err))
			return
		}
	}
	// Committed: wake live subscribers first (publishing never blocks), then acknowledge.
	w.hub.publish(p.records)
	for i, req := range group {
		req.done <- results[i]
	}
	if len(w.streams) > maxCachedStreams {
		clear(w.streams)
	}
}

// committedAnyway settles a failed write whose outcome is unknown (say, the connection
// dropped after COMMIT was sent): if the store's head shows the group's last position, the
// group did commit. Otherwise the next position is taken from the store again, so a later
// group never collides with rows that did land.
func (w *writer) committedAnyway(p *pending) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, last := p.records[0].pos, p.records[len(p.records)-1].pos
	head, err := w.st.head(ctx)
	if err != nil {
		w.next = first
		return false
	}
	if head >= last {
		return true
	}
	w.next = head + 1
	return false
}

func (w *writer) failAll(group []*writeReq, err error) {
	for _, req := range group {
		req.done <- writeRes{err: err}
	}
}

// loadStates fetches the state of every stream the group touches that is not cached.
func (w *writer) loadStates(ctx context.Context, group []*writeReq) error {
	var missing []string
	seen := map[string]bool{}
	need := func(name string) {
		if _, ok := w.streams[name]; !ok && !seen[name] {
			seen[name] = true
			missing = append(missing, name)
		}
	}
	for _, r := range group {
		need(r.stream)
		if r.kind == kindDelete {
			need(metaStreamOf(r.stream))
		}
		if isMetaStream(r.stream) {
			need(r.stream[2:])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := w.st.pool.Query(ctx, w.st.qLoadStates, missing)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var ids []pgtype.UUID
		var poss []int64
		s := &streamState{}
		if err := rows.Scan(&name, &s.last, &s.deleted, &s.tombstoned, &ids, &poss); err != nil {
			return err
		}
		if len(ids) != len(poss) || (len(ids) > 0 && s.last-int64(len(ids))+1 < 0) {
			ids, poss = nil, nil
		}
		s.recent = make([][16]byte, len(ids))
		s.recentPos = make([]int64, len(ids))
		for i, id := range ids {
			s.recent[len(ids)-1-i] = id.Bytes
			s.recentPos[len(ids)-1-i] = poss[i]
		}
		w.streams[name] = s
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range missing {
		if _, ok := w.streams[name]; !ok {
			w.streams[name] = &streamState{last: -1}
		}
	}
	return nil
}

// apply decides one request against the current state and adds its records to p.
func (w *writer) apply(ctx context.Context, req *writeReq, p *pending, created int64) writeRes {
	s := w.streams[req.stream]
	if s.tombstoned {
		return writeRes{err: &streamDeletedError{stream: req.stream}}
	}
	switch req.kind {
	case kindAppend:
		var base *streamState
		if isMetaStream(req.stream) {
			base = w.streams[req.stream[2:]]
			if base.tombstoned {
				return writeRes{err: &streamDeletedError{stream: req.stream}}
			}
		}
		if res, done := w.idempotent(ctx, req, s); done {
			return res
		}
		if !expectationHolds(req.expect, s) {
			return writeRes{err: &wrongVersionError{stream: req.stream, expected: req.expect, current: s.last}}
		}
		if base != nil && base.deleted && len(req.events) > 0 {
			// New metadata for a soft-deleted stream recreates it (empty): keep its
			// events truncated, as EventStoreDB does by adding $tb to the metadata.
			last := &req.events[len(req.events)-1]
			last.data = withTruncateBefore(last.data, base.last+1)
			nb := base.clone()
			nb.deleted = false
			w.streams[req.stream[2:]] = nb
			p.touch(req.stream[2:], nb)
		}
		ns := s.clone()
		for _, ev := range req.events {
			ns.last++
			r := &record{pos: w.next, stream: req.stream, revision: ns.last, id: ev.id, typ: ev.typ,
				ctype: ev.ctype, created: created, data: ev.data, meta: ev.meta}
			w.next++
			p.records = append(p.records, r)
			ns.remember(r)
		}
		if len(req.events) > 0 {
			ns.deleted = false
		}
		w.streams[req.stream] = ns
		p.touch(req.stream, ns)
		pos := int64(0)
		if len(p.records) > 0 && len(req.events) > 0 {
			pos = p.records[len(p.records)-1].pos
		}
		return writeRes{revision: ns.last, pos: pos}
	case kindDelete:
		if !expectationHolds(req.expect, s) {
			return writeRes{err: &wrongVersionError{stream: req.stream, expected: req.expect, current: s.last}}
		}
		// Soft delete: truncate everything so far through the metadata stream ($tb), keeping
		// the other metadata, and mark the stream deleted until its next append.
		metaName := metaStreamOf(req.stream)
		props := map[string]any{}
		if raw := w.latestMeta(ctx, metaName, p); raw != nil {
			_ = json.Unmarshal(raw, &props)
		}
		props["$tb"] = s.last + 1
		data, _ := json.Marshal(props)
		ms := w.streams[metaName].clone()
		ms.last++
		id := uuid.New()
		r := &record{pos: w.next, stream: metaName, revision: ms.last, id: id, typ: "$metadata",
			ctype: "application/json", created: created, data: data, meta: []byte{}}
		w.next++
		p.records = append(p.records, r)
		ms.remember(r)
		ms.deleted = false
		w.streams[metaName] = ms
		p.touch(metaName, ms)
		ns := s.clone()
		ns.deleted = true
		w.streams[req.stream] = ns
		p.touch(req.stream, ns)
		return writeRes{revision: ns.last, pos: r.pos}
	default: // kindTombstone
		if !expectationHolds(req.expect, s) {
			return writeRes{err: &wrongVersionError{stream: req.stream, expected: req.expect, current: s.last}}
		}
		id := uuid.New()
		r := &record{pos: w.next, stream: req.stream, revision: tombstoneRevision, id: id, typ: "$streamDeleted",
			ctype: "application/octet-stream", created: created, data: []byte{}, meta: []byte{}}
		w.next++
		p.records = append(p.records, r)
		ns := s.clone()
		ns.tombstoned = true
		w.streams[req.stream] = ns
		p.touch(req.stream, ns)
		return writeRes{revision: ns.last, pos: r.pos}
	}
}

// latestMeta returns the newest metadata of metaStream, including this group's writes.
func (w *writer) latestMeta(ctx context.Context, metaStream string, p *pending) []byte {
	for i := len(p.records) - 1; i >= 0; i-- {
		if p.records[i].stream == metaStream {
			return p.records[i].data
		}
	}
	raw, err := w.st.lastMeta(ctx, metaStream)
	if err != nil {
		w.log.Warn("event store: read metadata for delete", "err", err)
		return nil
	}
	return raw
}

// withTruncateBefore returns metadata JSON with $tb raised to at least tb.
func withTruncateBefore(data []byte, tb int64) []byte {
	// Raw values: every other property stays byte for byte as the client wrote it (a number
	// too large for a float64, such as 1e700, included).
	props := map[string]json.RawMessage{}
	if json.Unmarshal(data, &props) != nil {
		return data
	}
	if props == nil { // the metadata was JSON null
		props = map[string]json.RawMessage{}
	}
	if cur, ok := props["$tb"]; ok {
		var f float64
		if json.Unmarshal(cur, &f) == nil && f >= float64(tb) {
			return data
		}
	}
	props["$tb"] = json.RawMessage(strconv.FormatInt(tb, 10))
	out, err := json.Marshal(props)
	if err != nil {
		return data
	}
	return out
}

func expectationHolds(e expectation, s *streamState) bool {
	switch e.kind {
	case expectRevision:
		return s.last == e.rev
	case expectNoStream:
		return s.last == -1 || s.deleted
	case expectExists:
		return s.last >= 0 && !s.deleted
	default:
		return true
	}
}

// idempotent reports whether req repeats events already written: the same ids at the
// revisions the expectation names (or, for any/stream_exists, a run of the stream's recent
// events starting with the first id). Then it succeeds without writing.
func (w *writer) idempotent(ctx context.Context, req *writeReq, s *streamState) (writeRes, bool) {
	n := int64(len(req.events))
	if n == 0 || s.last < 0 {
		return writeRes{}, false
	}
	var from int64
	switch req.expect.kind {
	case expectRevision:
		from = req.expect.rev + 1
		if s.last < from+n-1 || from < 0 {
			return writeRes{}, false
		}
	case expectNoStream:
		from = 0
		if s.last < n-1 {
			return writeRes{}, false
		}
	default:
		from = -1
		for i, id := range s.recent {
			if id == req.events[0].id {
				from = s.last - int64(len(s.recent)-1-i)
				break
			}
		}
		if from < 0 || s.last < from+n-1 {
			return writeRes{}, false
		}
	}
	ids, poss, ok := s.idsAt(from, n)
	if !ok {
		var err error
		ids, poss, err = w.idsFromStore(ctx, req.stream, from, n)
		if err != nil || int64(len(ids)) != n {
			return writeRes{}, false
		}
	}
	for i := range ids {
		if ids[i] != req.events[i].id {
			return writeRes{}, false
		}
	}
	return writeRes{revision: from + n - 1, pos: poss[len(poss)-1]}, true
}

func (w *writer) idsFromStore(ctx context.Context, stream string, from, n int64) ([][16]byte, []int64, error) {
	rows, err := w.st.pool.Query(ctx, w.st.qIDsAt, stream, from, from+n-1)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids [][16]byte
	var poss []int64
	for rows.Next() {
		var pos int64
		var id pgtype.UUID
		if err := rows.Scan(&pos, &id); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id.Bytes)
		poss = append(poss, pos)
	}
	return ids, poss, rows.Err()
}

func (s *streamState) clone() *streamState {
	c := *s
	return &c
}

// remember appends r's id to the window of recent ids (at least recentIDs of them).
// Appending never rewrites elements an earlier clone can see, and a state is only ever
// cloned from the cache's current one, so earlier clones stay valid.
func (s *streamState) remember(r *record) {
	s.last = r.revision
	s.recent = append(s.recent, r.id)
	s.recentPos = append(s.recentPos, r.pos)
	if len(s.recent) > 2*recentIDs {
		s.recent = append([][16]byte(nil), s.recent[len(s.recent)-recentIDs:]...)
		s.recentPos = append([]int64(nil), s.recentPos[len(s.recentPos)-recentIDs:]...)
	}
}

// idsAt returns the ids and positions of revisions from … from+n-1 when they are all in
// the window of recent ids.
func (s *streamState) idsAt(from, n int64) ([][16]byte, []int64, bool) {
	first := s.last - int64(len(s.recent)) + 1
	if from < first || from+n-1 > s.last {
		return nil, nil, false
	}
	i := from - first
	return s.recent[i : i+n], s.recentPos[i : i+n], true
}

// write stores the group's records and stream states in one statement (one transaction,
// one round trip); it returns once Postgres has committed.
func (w *writer) write(ctx context.Context, p *pending) error {
	n := len(p.records)
	pos := make([]int64, n)
	streams := make([]string, n)
	revs := make([]int64, n)
	ids := make([]pgtype.UUID, n)
	types := make([]string, n)
	ctypes := make([]string, n)
	created := make([]int64, n)
	data := make([][]byte, n)
	meta := make([][]byte, n)
	for i, r := range p.records {
		pos[i], streams[i], revs[i] = r.pos, r.stream, r.revision
		ids[i] = pgtype.UUID{Bytes: r.id, Valid: true}
		types[i], ctypes[i], created[i] = r.typ, r.ctype, r.created
		data[i], meta[i] = nonNil(r.data), nonNil(r.meta)
	}
	m := len(p.order)
	names := make([]string, m)
	lasts := make([]int64, m)
	dels := make([]bool, m)
	tombs := make([]bool, m)
	for i, name := range p.order {
		s := p.touched[name]
		names[i], lasts[i], dels[i], tombs[i] = name, s.last, s.deleted, s.tombstoned
	}
	_, err := w.st.pool.Exec(ctx, w.st.qWrite, pos, streams, revs, ids, types, ctypes, created, data, meta,
		names, lasts, dels, tombs)
	return err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
