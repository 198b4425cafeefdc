package esdbserver

import (
	"context"
	"math"
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Read serves count reads and catch-up subscriptions of a stream or of $all.
func (h *streamsService) Read(req *streams.ReadReq, ss streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read: missing options")
	}
	filter, err := newEventFilter(o.GetFilter())
	if err != nil {
		return err
	}
	switch o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Subscription:
		return h.s.subscribe(ss, o, filter)
	case *streams.ReadReq_Options_Count:
	default:
		return status.Error(codes.InvalidArgument, "read: neither count nor subscription")
	}
	if o.GetCount() == 0 {
		return nil
	}
	if all := o.GetAll(); all != nil {
		return h.s.readAll(ss, all, o, filter)
	}
	if so := o.GetStream(); so != nil {
		return h.s.readStream(ss, so, o)
	}
	return status.Error(codes.InvalidArgument, "read: neither stream nor $all")
}

func clampRev(v uint64) int64 {
	if v > math.MaxInt64-1 {
		return math.MaxInt64 - 1
	}
	return int64(v)
}

// visibleRange applies a stream's metadata ($tb, $maxCount, $maxAge; a $$ stream shows only
// its latest event) to the revisions a reader may see.
func (s *Server) visibleRange(stream string, info streamInfo) streamRange {
	r := streamRange{lo: 0, hi: info.last, minCreated: math.MinInt64, minPos: 0, maxPos: math.MaxInt64}
	m := info.meta
	if m.tb != nil && *m.tb > r.lo {
		r.lo = *m.tb
	}
	if m.maxCount != nil && info.last-*m.maxCount+1 > r.lo {
		r.lo = info.last - *m.maxCount + 1
	}
	if isMetaStream(stream) && info.last > r.lo {
		r.lo = info.last
	}
	// A $maxAge too large for 100-ns ticks hides nothing (the product would overflow).
	if m.maxAge != nil && *m.maxAge <= math.MaxInt64/10_000_000 {
		r.minCreated = s.clock.Now().UnixNano()/100 - *m.maxAge*10_000_000
	}
	return r
}

// readStream answers a count read of one stream.
func (s *Server) readStream(ss streams.Streams_ReadServer, so *streams.ReadReq_Options_StreamOptions, o *streams.ReadReq_Options) error {
	ctx := ss.Context()
	name := string(so.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "read: empty stream name")
	}
	if err := s.authorize(ctx, name, opRead); err != nil {
		return err
	}
	info, err := s.st.info(ctx, name)
	if err != nil {
		return status.Error(codes.Unavailable, "event store: read stream")
	}
	if info.tombstoned {
		return streamDeletedStatus(ss, name)
	}
	if isMetaStream(name) {
		base, err := s.st.info(ctx, name[2:])
		if err != nil {
			return status.Error(codes.Unavailable, "event store: read stream")
		}
		if base.tombstoned {
			return streamDeletedStatus(ss, name)
		}
	}
	if !info.exists || info.deleted {
		return ss.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
	}
	rng := s.visibleRange(name, info)
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	switch so.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		rev := clampRev(so.GetRevision())
		if backwards {
			rng.hi = min(rng.hi, rev)
		} else {
			rng.lo = max(rng.lo, rev)
		}
	case *streams.ReadReq_Options_StreamOptions_End:
		if !backwards {
			return nil
		}
	default: // start
		if backwards {
			rng.hi = min(rng.hi, 0)
		}
	}
	remaining := o.GetCount()
	for remaining > 0 && rng.lo <= rng.hi {
		page, err := s.st.readStream(ctx, name, rng, backwards, int(min(remaining, readPage)))
		if err != nil {
			return readFailed(ctx, "event store: read stream")
		}
		for _, r := range page {
			if err := ss.SendMsg(r); err != nil {
				return err
			}
		}
		remaining -= uint64(len(page))
		if len(page) < readPage {
			return nil
		}
		last := page[len(page)-1].revision
		if backwards {
			rng.hi = last - 1
		} else {
			rng.lo = last + 1
		}
	}
	return nil
}

// readAll answers a count read of $all.
func (s *Server) readAll(ss streams.Streams_ReadServer, all *streams.ReadReq_Options_AllOptions, o *streams.ReadReq_Options, f *eventFilter) error {
	ctx := ss.Context()
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	lo, hi := int64(0), int64(math.MaxInt64)
	switch all.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		p := clampRev(all.GetPosition().GetCommitPosition())
		if backwards {
			hi = p - 1 // backwards from a position excludes it
		} else {
			lo = p
		}
	case *streams.ReadReq_Options_AllOptions_End:
		if !backwards {
			return nil
		}
	default:
		if backwards {
			return nil
		}
	}
	vis := newVisibility(s, principalFrom(ctx))
	remaining := o.GetCount()
	// Pages ask for no more than the count still unread, so that a read of n events does
	// not fetch and scan up to two pages beyond them (the last one and the one read ahead).
	// When every event read is sent (an admin, no filter) reading stops at the count; when
	// hidden or filtered events may leave it short, it goes on page by page.
	want, fetched := remaining, uint64(0)
	exact := vis.p.admin && f == nil
	pages, stop := prefetch(ctx, func(ctx context.Context, prev []*record) ([]*record, int, error) {
		if prev != nil {
			if backwards {
				hi = prev[len(prev)-1].pos - 1
			} else {
				lo = prev[len(prev)-1].pos + 1
			}
		}
		if lo > hi || exact && fetched >= want {
			return nil, 1, nil
		}
		n := readPage
		if fetched < want {
			n = int(min(want-fetched, readPage))
		}
		page, err := s.st.readAll(ctx, lo, hi, backwards, n)
		fetched += uint64(len(page))
		return page, n, err
	})
	defer stop()
	for pr := range pages {
		if pr.err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Error(codes.Unavailable, "event store: read $all")
		}
		for _, r := range pr.page {
			ok, err := vis.visible(ctx, r)
			if err != nil {
				return readFailed(ctx, "event store: read $all")
			}
			if !ok || !f.match(r) {
				continue
			}
			if err := ss.SendMsg(r); err != nil {
				return err
			}
			remaining--
			if remaining == 0 {
				return nil
			}
		}
	}
	return nil
}

// visibility decides which $all events a caller sees: admins (and everyone in insecure
// mode) see all; others see no system events and only streams they may read.
type visibility struct {
	s     *Server
	p     principal
	cache map[string]bool
}

func newVisibility(s *Server, p principal) *visibility {
	return &visibility{s: s, p: p, cache: map[string]bool{}}
}

func (v *visibility) visible(ctx context.Context, r *record) (bool, error) {
	if v.p.admin {
		return true, nil
	}
	if r.system() {
		return false, nil
	}
	if ok, found := v.cache[r.stream]; found {
		return ok, nil
	}
	info, err := v.s.st.info(ctx, r.stream)
	if err != nil {
		return false, err
	}
	ok := v.p.allowed(r.stream, info.meta, opRead)
	if len(v.cache) > 10_000 {
		clear(v.cache)
	}
	v.cache[r.stream] = ok
	return ok, nil
}

// eventFilter is a $all filter on stream name or event type, by regex or prefixes, with a
// checkpoint interval counted in events scanned.
type eventFilter struct {
	onType   bool
	re       *regexp.Regexp
	prefixes []string
	interval int
}

func newEventFilter(fo *streams.ReadReq_Options_FilterOptions) (*eventFilter, error) {
	if fo == nil {
		return nil, nil
	}
	f := &eventFilter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch fo.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		f.onType = true
		expr = fo.GetEventType()
	default:
		expr = fo.GetStreamIdentifier()
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "read: bad filter regex: %v", err)
		}
		f.re = re
	}
	f.prefixes = expr.GetPrefix()
	window := 32
	if fo.GetMax() > 0 {
		window = int(fo.GetMax())
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	if mult <= 0 {
		mult = 1
	}
	f.interval = int(min(uint64(window)*uint64(mult), math.MaxInt32)) // both are uint32s
	return f, nil
}

// match reports whether r passes the filter; a nil filter passes everything.
func (f *eventFilter) match(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.stream
	if f.onType {
		subject = r.typ
	}
	if f.re != nil && !f.re.MatchString(subject) {
		return false
	}
	if len(f.prefixes) > 0 {
		for _, p := range f.prefixes {
			if strings.HasPrefix(subject, p) {
				return true
			}
		}
		return false
	}
	return true
}

// readFailed answers a read whose storage query failed: the caller's cancellation or
// deadline as such, anything else (Postgres restarting, a broken connection) as Unavailable,
// so the client retries rather than reporting the storage's own message as Unknown.
func readFailed(ctx context.Context, what string) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Error(codes.Unavailable, what)
}
