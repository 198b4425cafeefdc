package projections

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// wire forms of the erasure events (no sealed fields).
type erasureRequested struct {
	ErasureID      string `json:"erasureId"`
	OrganizationID string `json:"organizationId"`
	SubjectType    string `json:"subjectType"`
	SubjectID      string `json:"subjectId"`
	// RequestedAt is when the order was given.
	RequestedAt time.Time `json:"requestedAt"`
}

type erasureRef struct {
	ErasureID string `json:"erasureId"`
}

// erasures is the erasure lifecycle of one projection, written once for every projection
// that derives rows from erasable subjects. On erasure.requested.v1 erase removes what the
// projection derived from the subject and names the streams it derived it from, which are
// recorded with the order in the projection's own table (each projection keeps its own, so
// that a rebuild of one sees the orders in log order, not another's final state); on
// erasure.restored.v1 those streams are re-read and their events before the restore
// re-applied with apply, in log order; erasure.completed.v1 makes the removal final. Every
// other event goes to apply.
type erasures struct {
	// table is the projection's table of erasure orders, e.g. "readmodel_erasures".
	table string
	// streams re-reads the streams of a restored subject.
	streams StreamReader
	// erase removes what the projection derived from r's subject and returns the streams it
	// was derived from; ok is false when the projection holds nothing of subjects of r's
	// kind, and then no order is recorded.
	erase func(ctx context.Context, tx pgx.Tx, r erasureRequested) (streams []string, ok bool, err error)
	// objects, if set, counts the search-index objects and tenants erase is about to delete,
	// for the erasure certificate.
	objects func(ctx context.Context, tx pgx.Tx, r erasureRequested) (objects int64, tenants int, err error)
	// apply projects one event; restoredAt is the time of the erasure.restored.v1 event when
	// the event is re-applied for a restore, zero otherwise.
	apply func(ctx context.Context, tx pgx.Tx, ev engine.Event, restoredAt time.Time) error
}

// Apply projects ev: the erasure events through the lifecycle, every other event with apply.
func (e erasures) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	switch ev.Type {
	case evErasureRequested:
		var r erasureRequested
		if err := decode(ev, &r); err != nil {
			return err
		}
		var p purged
		if e.objects != nil {
			var err error
			if p.objects, p.tenants, err = e.objects(ctx, tx, r); err != nil {
				return err
			}
		}
		before, err := changedRows(ctx, tx)
		if err != nil {
			return err
		}
		streams, ok, err := e.erase(ctx, tx, r)
		if err != nil || !ok {
			return err
		}
		after, err := changedRows(ctx, tx)
		if err != nil {
			return err
		}
		p.rows = after - before
		return e.request(ctx, tx, ev, r, streams, p)
	case evErasureRestored:
		var r erasureRef
		if err := decode(ev, &r); err != nil {
			return err
		}
		streams, ok, err := e.restore(ctx, tx, r.ErasureID)
		if err != nil || !ok {
			return err
		}
		restoredAt := metaOf(ev).OccurredAt
		return replay(ctx, e.streams, streams, ev.Position, func(ctx context.Context, x engine.Event) error {
			return e.apply(ctx, tx, x, restoredAt)
		})
	case evErasureCompleted:
		var r erasureRef
		if err := decode(ev, &r); err != nil {
			return err
		}
		return e.complete(ctx, tx, r.ErasureID)
	}
	return e.apply(ctx, tx, ev, time.Time{})
}

// hidden reports whether any of ids is the subject of a pending or completed erasure.
func (e erasures) hidden(ctx context.Context, tx pgx.Tx, ids ...string) (bool, error) {
	var found bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+e.table+`
		WHERE subject_id = ANY($1) AND state <> 'RESTORED')`, ids).Scan(&found)
	return found, err
}

// purged is what an erase removed: rows of the projection's tables deleted or blanked,
// and search-index objects and tenants.
type purged struct {
	rows, objects int64
	tenants       int
}

// changedRows returns how many rows the current transaction has deleted or updated so far,
// over every table (pg_stat_xact_user_tables counts the transaction's own changes): the
// difference around an erase is what it purged.
func changedRows(ctx context.Context, tx pgx.Tx) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT coalesce(sum(n_tup_del + n_tup_upd), 0)::bigint FROM pg_stat_xact_user_tables`).Scan(&n)
	return n, err
}

// request records an erasure order, the streams whose events derived what is removed and
// what was purged.
func (e erasures) request(ctx context.Context, tx pgx.Tx, ev engine.Event, r erasureRequested, streams []string, p purged) error {
	streams = uniqueSorted(streams)
	_, err := tx.Exec(ctx, `INSERT INTO `+e.table+`
		(erasure_id, organization_id, subject_type, subject_id, state, streams, position, purged_rows, purged_objects, purged_tenants)
		VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9)
		ON CONFLICT (erasure_id) DO UPDATE SET state = 'PENDING', streams = EXCLUDED.streams,
			purged_rows = EXCLUDED.purged_rows, purged_objects = EXCLUDED.purged_objects, purged_tenants = EXCLUDED.purged_tenants`,
		r.ErasureID, r.OrganizationID, r.SubjectType, strings.ToLower(r.SubjectID), streams, pos(ev), p.rows, p.objects, p.tenants)
	return err
}

// restore marks an order restored and returns the streams to re-read; ok is false for an
// order the projection never saw.
func (e erasures) restore(ctx context.Context, tx pgx.Tx, id string) (streams []string, ok bool, err error) {
	err = tx.QueryRow(ctx, `UPDATE `+e.table+` SET state = 'RESTORED' WHERE erasure_id = $1 AND state = 'PENDING'
		RETURNING streams`, id).Scan(&streams)
	if err == pgx.ErrNoRows {
		return nil, false, nil
	}
	return streams, err == nil, err
}

// complete marks an order completed: what it removed stays removed.
func (e erasures) complete(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `UPDATE `+e.table+` SET state = 'COMPLETED', streams = '{}' WHERE erasure_id = $1`, id)
	return err
}

func uniqueSorted(s []string) []string {
	out := make([]string, 0, len(s))
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// replay re-reads streams and applies their events that precede at, merged in log order,
// with apply.
func replay(ctx context.Context, sr StreamReader, streams []string, at engine.Position,
	apply func(ctx context.Context, ev engine.Event) error) error {
	const op = "projections.replay"
	if sr == nil {
		return domain.E(domain.KindInternal, op, "a stream reader is needed to restore erased subjects")
	}
	var evs []engine.Event
	for _, s := range streams {
		recs, _, err := sr.Load(ctx, s)
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "re-read stream "+s)
		}
		for _, r := range recs {
			if r.Position >= at.Commit {
				break
			}
			id, err := uuid.Parse(r.EventID)
			if err != nil {
				return domain.Wrap(domain.KindInternal, op, err, "event id is not a UUID")
			}
			evs = append(evs, engine.Event{ID: id, Type: r.Type, Stream: r.Stream, Revision: r.Revision,
				Position: engine.Position{Commit: r.Position, Prepare: r.Position},
				Created:  r.Created, ContentType: "application/json", Data: r.Data, Metadata: r.Metadata})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Position.Less(evs[j].Position) })
	for _, ev := range evs {
		if err := apply(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
