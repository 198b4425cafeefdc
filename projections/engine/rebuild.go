package engine

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// RebuildProgress is reported after each batch a rebuild commits.
type RebuildProgress struct {
	// Events is how many events have been applied so far.
	Events int64
	// Position is the log position reached, nil before the first batch.
	Position *Position
	// Head is the log's last position when the rebuild started, nil for an empty log.
	Head *Position
	// Swapped is true in the last report, after the new tables replaced the old ones.
	Swapped bool
}

// RebuildGCPercent is the garbage collector's target (GOGC) that `arkiv projections rebuild`
// runs with unless GOGC is set. A rebuild allocates a few kilobytes per event that die within
// a batch, over a live heap of a few batches (tens of megabytes); collecting when the heap has
// grown by 400% of that instead of 100% does about a quarter of the marking work, for a peak
// heap a few hundred megabytes higher at most. It is not set by Rebuild itself: the setting is
// the process's, and a server that also answers queries may want its own.
const RebuildGCPercent = 400

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// shadowSchema is the schema a rebuild of name fills before the swap.
func shadowSchema(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return "rebuild_" + s
}

// Rebuild rebuilds the projection named name blue/green: it creates empty copies of its tables
// (same columns, defaults, constraints and indexes) in a shadow schema, replays the whole log
// into them in large transactions while the live tables keep serving reads and the live
// runner keeps projecting, and then, caught up, in one transaction that holds the
// projection's checkpoint lock, applies the last events, moves the new tables into public in
// place of the old ones (which are dropped) and sets the checkpoint. A failed or cancelled
// rebuild leaves the live tables untouched and drops the shadow schema. progress, if not
// nil, is called after every batch.
func (r *Runner) Rebuild(ctx context.Context, name string, progress func(RebuildProgress)) (err error) {
	const op = "engine.Rebuild"
	p, ok := r.byName[name]
	if !ok {
		return domain.Errorf(domain.KindNotFound, op, "no projection named %q", name)
	}
	tables := p.Tables()
	for _, t := range tables {
		if !identRe.MatchString(t) {
			return domain.Errorf(domain.KindInvalid, op, "projection %s: table name %q must be a lower-case identifier", name, t)
		}
	}
	pool, cfg := r.cfg.Pool, &r.cfg
	shadow := shadowSchema(name)
	retired := "retired_" + strings.TrimPrefix(shadow, "rebuild_")
	for _, t := range tables {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", "public."+t).Scan(&exists); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "inspect tables")
		}
		if !exists {
			return domain.Errorf(domain.KindNotFound, op, "table %s of projection %s does not exist: run arkiv migrate", t, name)
		}
	}
	var prevState string
	_ = pool.QueryRow(ctx, "SELECT state FROM projection_status WHERE name = $1", name).Scan(&prevState)

	ddl := "DROP SCHEMA IF EXISTS " + shadow + " CASCADE; CREATE SCHEMA " + shadow + ";"
	for _, t := range tables {
		ddl += " CREATE TABLE " + shadow + "." + t + " (LIKE public." + t + " INCLUDING ALL);"
	}
	if _, err := pool.Exec(ctx, ddl); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "create shadow tables")
	}
	defer func() {
		if err == nil {
			return
		}
		cctx := context.WithoutCancel(ctx)
		_, _ = pool.Exec(cctx, "DROP SCHEMA IF EXISTS "+shadow+" CASCADE")
		restore := prevState
		if restore == "" || restore == StateRebuilding {
			restore = StateStopped
		}
		_ = setStatus(cctx, pool, name, restore, "", nil, cfg.Clock.Now())
	}()
	if err := setStatus(ctx, pool, name, StateRebuilding, "", nil, cfg.Clock.Now()); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "record status")
	}
	head, err := cfg.Log.Head(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "read the head of the log")
	}

	// Read ahead in a goroutine so that reading the log and writing Postgres overlap.
	type pageOrErr struct {
		page Page
		err  error
	}
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	pages := make(chan pageOrErr, 2)
	go func() {
		defer close(pages)
		var at *Position
		for {
			pg, err := cfg.Log.Read(rctx, at, cfg.RebuildBatchSize)
			select {
			case pages <- pageOrErr{pg, err}:
			case <-rctx.Done():
				return
			}
			if err != nil || pg.End || pg.Last == nil {
				return
			}
			at = pg.Last
		}
	}()
	var reached *Position
	var events int64
	for po := range pages {
		if po.err != nil {
			return domain.Wrap(domain.KindUnavailable, op, po.err, "read the log")
		}
		if len(po.page.Events) > 0 {
			if err := r.applyInSchema(ctx, p, shadow, po.page.Events); err != nil {
				return err
			}
		}
		events += int64(len(po.page.Events))
		if po.page.Last != nil {
			reached = po.page.Last
		}
		if progress != nil {
			progress(RebuildProgress{Events: events, Position: reached, Head: head})
		}
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "rebuild cancelled")
	}

	// Swap: under the checkpoint lock the live runner cannot commit, so reading to the end of
	// the log now covers everything it has committed.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "begin swap")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := lockCheckpoint(ctx, tx, name); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "lock checkpoint")
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+shadow+", public"); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "set search path")
	}
	for {
		pg, err := cfg.Log.Read(ctx, reached, cfg.RebuildBatchSize)
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "read the log")
		}
		if len(pg.Events) > 0 {
			if err := applyWithFallback(ctx, tx, p, pg.Events); err != nil {
				return err
			}
			events += int64(len(pg.Events))
		}
		if pg.Last != nil {
			reached = pg.Last
		}
		if pg.End || pg.Last == nil {
			break
		}
	}
	swap := "SET LOCAL search_path TO public; CREATE SCHEMA " + retired + ";"
	for _, t := range tables {
		swap += " ALTER TABLE public." + t + " SET SCHEMA " + retired + ";"
		swap += " ALTER TABLE " + shadow + "." + t + " SET SCHEMA public;"
	}
	swap += " DROP SCHEMA " + retired + " CASCADE; DROP SCHEMA " + shadow + ";"
	if _, err := tx.Exec(ctx, swap); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "swap tables")
	}
	if reached != nil {
		if err := writeCheckpoint(ctx, tx, name, *reached, cfg.Clock.Now(), OrgsAll); err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "write checkpoint")
		}
	} else if _, err := tx.Exec(ctx, "DELETE FROM projection_checkpoints WHERE name = $1", name); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "reset checkpoint")
	}
	state := StateStopped
	if prevState == StateRunning {
		state = StateRunning
	}
	if err := setStatus(ctx, tx, name, state, "", nil, cfg.Clock.Now()); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "record status")
	}
	if err := tx.Commit(ctx); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "commit swap")
	}
	if progress != nil {
		progress(RebuildProgress{Events: events, Position: reached, Head: head, Swapped: true})
	}
	return nil
}

// applyInSchema applies evs in one transaction whose search_path puts schema first, so the
// projection's unqualified table names reach the shadow tables. The transaction commits
// without waiting for its WAL to reach the disk: a crash can lose only shadow rows, which a
// rebuild that does not finish drops anyway; the swap, which makes them live, waits, and
// its flush covers all the WAL written before it.
func (r *Runner) applyInSchema(ctx context.Context, p Projection, schema string, evs []Event) error {
	return pgx.BeginFunc(ctx, r.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema+", public; SET LOCAL synchronous_commit TO off"); err != nil {
			return err
		}
		err := applyWithFallback(ctx, tx, p, evs)
		var ae *ApplyError
		if errors.As(err, &ae) {
			return domain.Wrap(domain.KindInternal, "engine.Rebuild", err, "apply event")
		}
		return err
	})
}

// applyWithFallback applies evs through tx like applyEvents, except that when ApplyBatch
// fails it undoes the batch (to a savepoint) and applies the events one at a time with
// Apply, as the live runner does: a batch path that cannot express a case, such as a COPY
// meeting a row that Apply would skip with ON CONFLICT DO NOTHING, slows a rebuild down
// instead of failing it.
func applyWithFallback(ctx context.Context, tx pgx.Tx, p Projection, evs []Event) error {
	bp, ok := p.(BatchProjection)
	if !ok || len(evs) < 2 {
		return applyEach(ctx, tx, p, evs)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := bp.ApplyBatch(ctx, sp, evs); err == nil {
		return sp.Commit(ctx)
	}
	if err := sp.Rollback(ctx); err != nil {
		return err
	}
	return applyEach(ctx, tx, p, evs)
}

// RebuildAll rebuilds every projection of the runner, one after the other.
func (r *Runner) RebuildAll(ctx context.Context, progress func(name string, p RebuildProgress)) error {
	for _, name := range r.Names() {
		var fn func(RebuildProgress)
		if progress != nil {
			fn = func(p RebuildProgress) { progress(name, p) }
		}
		if err := r.Rebuild(ctx, name, fn); err != nil {
			return err
		}
	}
	return nil
}
