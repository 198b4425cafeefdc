package esdbserver

import (
	"context"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// subscription is one catch-up subscription: it reads the store until it reaches the head,
// then switches to live batches from the hub. The switch registers the listener before
// reading the head h and reading the store up to h; live batches are then delivered only
// past h, so nothing is missed or sent twice. A listener that overflows is dropped and the
// subscription falls back to reading the store from where it was.
type subscription struct {
	s      *Server
	ss     streams.Streams_ReadServer
	stream string // "" for $all
	filter *eventFilter
	vis    *visibility

	lastRev int64 // stream subscriptions: last revision delivered (or skipped)
	lastPos int64 // last position delivered or scanned
	scanned int   // events scanned since the last checkpoint (filtered $all)
}

func (s *Server) subscribe(ss streams.Streams_ReadServer, o *streams.ReadReq_Options, f *eventFilter) error {
	ctx := ss.Context()
	sub := &subscription{s: s, ss: ss, filter: f, vis: newVisibility(s, principalFrom(ctx)), lastRev: -1}
	fromEnd := false
	if so := o.GetStream(); so != nil {
		sub.stream = string(so.GetStreamIdentifier().GetStreamName())
		if sub.stream == "" {
			return status.Error(codes.InvalidArgument, "subscribe: empty stream name")
		}
		sub.filter = nil
		if err := s.authorize(ctx, sub.stream, opRead); err != nil {
			return err
		}
		info, err := s.st.info(ctx, sub.stream)
		if err != nil {
			return status.Error(codes.Unavailable, "event store: read stream")
		}
		if info.tombstoned {
			return streamDeletedStatus(ss, sub.stream)
		}
		switch so.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			sub.lastRev = clampRev(so.GetRevision()) // exclusive start
		case *streams.ReadReq_Options_StreamOptions_End:
			fromEnd = true
		}
		if info.exists {
			if lo := s.visibleRange(sub.stream, info).lo; lo-1 > sub.lastRev {
				sub.lastRev = lo - 1
			}
		}
	} else if all := o.GetAll(); all != nil {
		switch all.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			sub.lastPos = clampRev(all.GetPosition().GetCommitPosition()) // exclusive start
		case *streams.ReadReq_Options_AllOptions_End:
			fromEnd = true
		}
	} else {
		return status.Error(codes.InvalidArgument, "subscribe: neither stream nor $all")
	}
	if err := ss.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	return sub.run(ctx, fromEnd)
}

func (sub *subscription) run(ctx context.Context, fromEnd bool) error {
	h := sub.s.hub
	caughtUp := false
	for {
		var l *listener
		if fromEnd {
			l = h.listen(sub.s.cfg.liveBuffer)
			sub.lastPos = max(sub.lastPos, h.head.Load())
			fromEnd = false
		} else {
			// Catch up without a listener while far behind, so a long history does not
			// make the hub drop it.
			if err := sub.catchUp(ctx, h.head.Load); err != nil {
				return err
			}
			l = h.listen(sub.s.cfg.liveBuffer)
			head := h.head.Load()
			if err := sub.catchUp(ctx, func() int64 { return head }); err != nil {
				h.unlisten(l)
				return err
			}
			sub.lastPos = max(sub.lastPos, head)
		}
		if !caughtUp {
			caughtUp = true
			if err := sub.checkpointNow(); err != nil {
				h.unlisten(l)
				return err
			}
			if err := sub.ss.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				h.unlisten(l)
				return err
			}
		}
		err := sub.live(ctx, l)
		h.unlisten(l)
		if err != nil {
			return err
		}
	}
}

// live delivers batches from l; it returns nil when l was dropped (fall back to catch-up).
func (sub *subscription) live(ctx context.Context, l *listener) error {
	for {
		select {
		case batch := <-l.ch:
			for _, r := range batch {
				if r.pos <= sub.lastPos {
					continue
				}
				if err := sub.deliver(ctx, r); err != nil {
					return err
				}
			}
		case <-l.dropped:
			select {
			case <-sub.s.ctx.Done():
				return status.Error(codes.Unavailable, "event store is shutting down")
			default:
				sub.s.fallbacks.Add(1)
				sub.s.log.Debug("event store: live subscriber fell behind, reading the store")
				return nil
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-sub.s.ctx.Done():
			return status.Error(codes.Unavailable, "event store is shutting down")
		}
	}
}

// catchUp reads the store after the cursor, up to position head() (asked again for each
// page), and delivers what it finds, until a page comes back short.
func (sub *subscription) catchUp(ctx context.Context, head func() int64) error {
	lastRev, lastPos := sub.lastRev, sub.lastPos
	pages, stop := prefetch(ctx, func(ctx context.Context, prev []*record) ([]*record, int, error) {
		if len(prev) > 0 {
			last := prev[len(prev)-1]
			lastPos = last.pos
			if sub.stream != "" {
				lastRev = last.revision
			}
		}
		if sub.stream != "" {
			page, err := sub.s.st.readStream(ctx, sub.stream, streamRange{
				lo: lastRev + 1, hi: math.MaxInt64, minCreated: math.MinInt64,
				minPos: lastPos + 1, maxPos: head(),
			}, false, readPage)
			return page, readPage, err
		}
		page, err := sub.s.st.readAll(ctx, lastPos+1, head(), false, readPage)
		return page, readPage, err
	})
	defer stop()
	for pr := range pages {
		if pr.err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Error(codes.Unavailable, "event store: catch-up read failed")
		}
		for _, r := range pr.page {
			if err := sub.deliver(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver sends r if the subscription wants it and advances the cursor.
func (sub *subscription) deliver(ctx context.Context, r *record) error {
	sub.lastPos = r.pos
	if sub.stream != "" {
		if r.stream != sub.stream {
			return nil
		}
		if r.revision == tombstoneRevision {
			return streamDeletedStatus(sub.ss, sub.stream)
		}
		sub.lastRev = r.revision
		return sub.ss.SendMsg(r)
	}
	ok, err := sub.vis.visible(ctx, r)
	if err != nil {
		return status.Error(codes.Unavailable, "event store: read metadata")
	}
	if ok && sub.filter.match(r) {
		if err := sub.ss.SendMsg(r); err != nil {
			return err
		}
	}
	if sub.filter != nil {
		sub.scanned++
		if sub.scanned >= sub.filter.interval {
			return sub.checkpointNow()
		}
	}
	return nil
}

// checkpointNow sends a checkpoint at the cursor for filtered $all subscriptions.
func (sub *subscription) checkpointNow() error {
	if sub.filter == nil || sub.scanned == 0 || sub.lastPos <= 0 {
		return nil
	}
	sub.scanned = 0
	p := uint64(sub.lastPos)
	return sub.ss.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{
		Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: p, PreparePosition: p}}})
}
