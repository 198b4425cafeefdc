package engine

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/google/uuid"
)

// Status is what `arkiv projections status` shows for one projection.
type Status struct {
	Name string
	// State is one of StateRunning, StateFailed, StateRebuilding, StateStopped, or "new" for a
	// projection that has never run.
	State string
	// Checkpoint is the last committed position, nil when nothing was committed.
	Checkpoint *Position
	// UpdatedAt is when the checkpoint was last written.
	UpdatedAt time.Time
	// Lag is the head's commit position minus the checkpoint's: 0 when caught up.
	Lag uint64
	// Behind counts the events after the checkpoint, up to BehindCap (then it equals BehindCap).
	Behind int
	// Error, FailedEventID, FailedEventType and FailedAt describe the poison event of a failed
	// projection.
	Error           string
	FailedEventID   *uuid.UUID
	FailedEventType string
	FailedAt        *Position
}

// BehindCap is the most events Status counts behind a checkpoint.
const BehindCap = 100000

// Status reports every projection of the runner and the head of the log.
func (r *Runner) Status(ctx context.Context) ([]Status, *Position, error) {
	const op = "engine.Status"
	head, err := r.cfg.Log.Head(ctx)
	if err != nil {
		return nil, nil, domain.Wrap(domain.KindUnavailable, op, err, "read the head of the log")
	}
	out := make([]Status, 0, len(r.cfg.Projections))
	for _, name := range r.Names() {
		s := Status{Name: name, State: "new"}
		var c, p *int64
		var updated *time.Time
		var state, errMsg, ftype *string
		var fc, fp *int64
		err := r.cfg.Pool.QueryRow(ctx, `SELECT c.commit_position, c.prepare_position, c.updated_at,
	s.state, s.error, s.failed_event_id, s.failed_event_type, s.failed_commit_position, s.failed_prepare_position
FROM (SELECT $1::text AS name) n
LEFT JOIN projection_checkpoints c ON c.name = n.name
LEFT JOIN projection_status s ON s.name = n.name`, name).Scan(&c, &p, &updated, &state, &errMsg, &s.FailedEventID, &ftype, &fc, &fp)
		if err != nil {
			return nil, nil, domain.Wrap(domain.KindUnavailable, op, err, "read projection status")
		}
		if c != nil && p != nil {
			s.Checkpoint = &Position{Commit: uint64(*c), Prepare: uint64(*p)}
		}
		if updated != nil {
			s.UpdatedAt = *updated
		}
		if state != nil {
			s.State = *state
		}
		if errMsg != nil {
			s.Error = *errMsg
		}
		if ftype != nil {
			s.FailedEventType = *ftype
		}
		if fc != nil && fp != nil {
			s.FailedAt = &Position{Commit: uint64(*fc), Prepare: uint64(*fp)}
		}
		if head != nil {
			if s.Checkpoint == nil {
				s.Lag = head.Commit
			} else if s.Checkpoint.Commit < head.Commit {
				s.Lag = head.Commit - s.Checkpoint.Commit
			}
			if s.Checkpoint == nil || s.Checkpoint.Less(*head) {
				n, err := r.countAfter(ctx, s.Checkpoint)
				if err != nil {
					return nil, nil, domain.Wrap(domain.KindUnavailable, op, err, "count events behind")
				}
				s.Behind = n
			}
		}
		out = append(out, s)
	}
	return out, head, nil
}

func (r *Runner) countAfter(ctx context.Context, at *Position) (int, error) {
	n := 0
	for n < BehindCap {
		pg, err := r.cfg.Log.Read(ctx, at, min(10000, BehindCap-n))
		if err != nil {
			return 0, err
		}
		n += len(pg.Events)
		if pg.End || pg.Last == nil {
			break
		}
		at = pg.Last
	}
	return min(n, BehindCap), nil
}
