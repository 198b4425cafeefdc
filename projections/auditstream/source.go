package auditstream

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/cenkalti/backoff/v5"
)

// source is a destination's Watermill subscriber: it reads the organisation's audit entries
// after the destination's checkpoint, at most Window in flight, and moves the checkpoint over
// the acknowledged prefix. A nacked record is sent again after a backoff that grows while
// the destination keeps failing; nothing new is sent meanwhile.
type source struct {
	d    *destination
	done chan struct{}
}

var _ message.Subscriber = (*source)(nil)

// pending is a record in flight.
type pending struct {
	rec     readmodels.StreamRecord
	payload []byte
	acked   bool
}

type result struct {
	p  *pending
	ok bool
}

// Subscribe implements message.Subscriber; topic is ignored.
func (s *source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(s.done)
		defer close(out)
		s.run(ctx, out)
	}()
	return out, nil
}

// Close implements message.Subscriber; the subscription ends with its context.
func (s *source) Close() error { return nil }

func (s *source) run(ctx context.Context, out chan<- *message.Message) {
	d, f := s.d, s.d.f
	st := newState(f, d.t)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		st.save(cctx, true)
		_ = d.pub.Close()
	}()
	var queue []*pending // in log order: in flight, then read but not sent
	sent := 0            // queue[:sent] are in flight or acked
	read := st.cp        // the last position read into the queue
	results := make(chan result, d.window)
	var retry []*pending // nacked, to send again after wait
	wait := &backoff.ExponentialBackOff{InitialInterval: f.cfg.BackoffInitial, Multiplier: 2, MaxInterval: f.cfg.BackoffMax,
		RandomizationFactor: 0.2}
	var retryAt <-chan time.Time
	inflight := 0
	tick := time.NewTimer(time.Hour)
	defer tick.Stop()
	ticking := false
	send := func(p *pending) bool {
		msg := message.NewMessage(p.rec.EventID, p.payload)
		md := msg.Metadata
		md[MetaOccurredAt] = p.rec.OccurredAt.UTC().Format(time.RFC3339Nano)
		md[MetaAction] = p.rec.Action
		md[MetaOutcome] = p.rec.Outcome
		md[MetaLeafIndex] = strconv.FormatUint(p.rec.LeafIndex, 10)
		md[MetaLeafHash] = base64.StdEncoding.EncodeToString(p.rec.LeafHash)
		md[MetaFormat] = d.t.Format
		msg.SetContext(ctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			return false
		}
		inflight++
		go func() {
			select {
			case <-msg.Acked():
				results <- result{p, true}
			case <-msg.Nacked():
				results <- result{p, false}
			case <-ctx.Done():
			}
		}()
		return true
	}
	for ctx.Err() == nil {
		// Fill the queue from the audit log when it runs low.
		through, moved := f.projected()
		if len(queue)-sent < d.window && read.Less(through) {
			recs, err := f.cfg.Reads.AuditStreamRecords(ctx, d.t.OrganizationID, read.Commit, read.Prepare, through.Commit,
				f.cfg.Batch, d.t.IncludeDetail)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				st.noteErr(err)
				if !sleep(ctx, wait.NextBackOff()) {
					return
				}
				continue
			}
			for i := range recs {
				r := recs[i]
				if through.Less(engine.Position{Commit: r.Position, Prepare: r.Prepare}) {
					break
				}
				b, err := readmodels.EncodeStreamRecord(d.t.Format, &r)
				if err != nil {
					st.noteErr(err)
					return
				}
				queue = append(queue, &pending{rec: r, payload: b})
				read = engine.Position{Commit: r.Position, Prepare: r.Prepare}
			}
			if len(recs) < f.cfg.Batch {
				// Everything up to through is read; entries of other organisations may lie
				// between, so the read position moves to through.
				read = through
			}
		}
		// Send while the window has room and the destination is not failing.
		for retryAt == nil && len(retry) == 0 && sent < len(queue) && inflight < d.window {
			if !send(queue[sent]) {
				return
			}
			sent++
		}
		// Nothing in flight and nothing acked to record: the checkpoint may still move
		// over entries of other organisations (read), so idle destinations keep up too.
		if sent == 0 && len(queue) == 0 && retryAt == nil {
			st.advanceIdle(read)
		}
		st.save(ctx, inflight == 0)
		if st.dirty && !ticking {
			tick.Reset(f.cfg.CheckpointEvery)
			ticking = true
		}
		select {
		case <-ctx.Done():
			return
		case r := <-results:
			inflight--
			if r.ok {
				r.p.acked = true
				if retryAt == nil && len(retry) == 0 {
					wait.Reset()
				}
			} else {
				retry = append(retry, r.p)
				if retryAt == nil {
					retryAt = time.After(wait.NextBackOff())
				}
				st.noteErr(d.takeErr())
			}
			// Move the checkpoint over the acknowledged prefix.
			n := 0
			for n < sent && queue[n].acked {
				n++
			}
			if n > 0 {
				last := queue[n-1].rec
				st.advance(engine.Position{Commit: last.Position, Prepare: last.Prepare}, n, f.cfg.Clock.Now())
				queue = queue[n:]
				sent -= n
			}
		case <-retryAt:
			retryAt = nil
			again := retry
			retry = nil
			for _, p := range again {
				if !send(p) {
					return
				}
			}
		case <-moved:
		case <-tick.C:
			ticking = false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// state is a destination's checkpoint and health as audit_stream_state holds them.
type state struct {
	f         *Forwarder
	id        string
	cp        engine.Position
	delivered int64
	lastErr   string
	errAt     *time.Time
	lastOK    *time.Time
	dirty     bool
	savedAt   time.Time
	// logged and loggedAt throttle the log: an error is logged again only when it changes
	// or after a minute.
	logged   string
	loggedAt time.Time
}

func newState(f *Forwarder, t readmodels.AuditStreamTarget) *state {
	return &state{f: f, id: t.ID, cp: engine.Position{Commit: t.Health.Checkpoint, Prepare: t.Health.CheckpointPrepare},
		delivered: t.Health.Delivered, lastErr: t.Health.LastError, errAt: t.Health.LastErrorAt, lastOK: t.Health.LastDeliveredAt}
}

func (s *state) advance(p engine.Position, n int, now time.Time) {
	s.cp = p
	s.delivered += int64(n)
	s.lastOK = &now
	s.lastErr, s.errAt = "", nil
	s.dirty = true
}

func (s *state) advanceIdle(p engine.Position) {
	if s.cp.Less(p) {
		s.cp = p
		s.dirty = true
	}
}

func (s *state) noteErr(err error) {
	if msg := s.noteErrQuiet(err); msg != "" && (msg != s.logged || time.Since(s.loggedAt) > time.Minute) {
		s.logged, s.loggedAt = msg, time.Now()
		s.f.log.Warn("audit stream delivery failed", "stream", s.id, "kind", domain.KindOf(err).String(), "err", msg)
	}
}

// noteErrQuiet records err as the last error without logging it and returns its text.
func (s *state) noteErrQuiet(err error) string {
	if err == nil {
		return ""
	}
	now := s.f.cfg.Clock.Now()
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	s.lastErr, s.errAt = msg, &now
	s.dirty = true
	return msg
}

// save writes the state when it changed and force is set or CheckpointEvery has passed.
func (s *state) save(ctx context.Context, force bool) {
	now := time.Now()
	if !s.dirty || (!force && now.Sub(s.savedAt) < s.f.cfg.CheckpointEvery) {
		return
	}
	_, err := s.f.cfg.Pool.Exec(ctx, `INSERT INTO audit_stream_state (stream_id, commit_position, prepare_position, delivered,
			poisoned, last_error, last_error_at, last_delivered_at, updated_at)
		VALUES ($1, $2, $3, $4, 0, nullif($5, ''), $6, $7, $8)
		ON CONFLICT (stream_id) DO UPDATE SET commit_position = EXCLUDED.commit_position,
			prepare_position = EXCLUDED.prepare_position, delivered = EXCLUDED.delivered,
			poisoned = (SELECT count(*) FROM audit_stream_poison WHERE stream_id = $1),
			last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at,
			last_delivered_at = EXCLUDED.last_delivered_at, updated_at = EXCLUDED.updated_at
		WHERE (audit_stream_state.commit_position, audit_stream_state.prepare_position) <=
			(EXCLUDED.commit_position, EXCLUDED.prepare_position)`,
		s.id, int64(s.cp.Commit), int64(s.cp.Prepare), s.delivered, s.lastErr, s.errAt, s.lastOK, s.f.cfg.Clock.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.f.log.Warn("audit stream checkpoint not written", "stream", s.id, "err", err)
		}
		return
	}
	s.dirty, s.savedAt = false, now
}
