package history

import (
	"context"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Replayer answers as-of questions from a cache of the log: every organisation's folded
// events (their sealed fields emptied), in log order, caught up with the log before each
// answer. An answer is the fold of the cached events that occurred at or before the instant,
// the same fold as Fold's (a test holds them equal), without reading the log again.
type Replayer struct {
	dec decoder
	log Log

	mu    sync.Mutex
	after uint64            // the commit position the cache has read up to
	facts map[string][]fact // by organisation, in log order
}

// NewReplayer returns a Replayer over log, decoding with codec and events. It refuses nil
// dependencies.
func NewReplayer(log Log, codec Codec, events *domain.Registry) (*Replayer, error) {
	if log == nil || codec == nil || events == nil {
		return nil, domain.E(domain.KindInternal, "history.new", "nil log, codec or event registry")
	}
	return &Replayer{dec: decoder{codec: codec, events: events}, log: log, facts: map[string][]fact{}}, nil
}

// At returns org as it was at t: the fold of its events that occurred at or before t,
// everything appended to the log so far included.
func (r *Replayer) At(ctx context.Context, org string, t time.Time) (*State, error) {
	facts, err := r.catchUp(ctx, org)
	if err != nil {
		return nil, err
	}
	s := newState(org)
	for _, f := range facts {
		if !f.at.After(t) {
			s.apply(f)
		}
	}
	return s, nil
}

// catchUp reads the log from where the cache stopped to its end and returns org's facts.
// The slice returned is never written again (later facts are appended beyond its length).
func (r *Replayer) catchUp(ctx context.Context, org string) ([]fact, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		page, err := r.log.ReadAll(ctx, r.after, pageSize)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return r.facts[org], nil
		}
		for _, rec := range page {
			o, f, ok, err := r.dec.fact(ctx, rec)
			if err != nil {
				return nil, err
			}
			if ok {
				r.facts[o] = append(r.facts[o], f)
			}
			r.after = rec.Position
		}
	}
}
