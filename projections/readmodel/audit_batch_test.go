package readmodel_test

import (
	"context"
	"strings"
	"testing"

	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/readmodel"
	"github.com/arkiv/arkiv/projections/readmodel/readmodeltest"
	"github.com/jackc/pgx/v5"
)

// TestAuditBatchWritesWhatApplyWrites: the audit projection's COPY path writes exactly the
// rows of its one-event-at-a-time path over the scripted world (the runner and rebuilds
// fall back to Apply when ApplyBatch fails, so the batch path must be checked on its own).
func TestAuditBatchWritesWhatApplyWrites(t *testing.T) {
	t.Parallel()
	f := readmodeltest.NewFixture(t)
	readmodeltest.NewScript(f, keyring.NewPlainCodec()).World()
	var evs []projections.Event
	var at *projections.Position
	for {
		pg, err := f.Log.Read(f.Ctx, at, 1000)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, pg.Events...)
		if pg.End || pg.Last == nil {
			break
		}
		at = pg.Last
	}
	a := readmodel.NewAudit()
	tables := a.Tables()
	apply := func(fn func(ctx context.Context, tx pgx.Tx) error) string {
		t.Helper()
		if _, err := f.Pool.Exec(f.Ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
			t.Fatal(err)
		}
		if err := pgx.BeginFunc(f.Ctx, f.Pool, func(tx pgx.Tx) error { return fn(f.Ctx, tx) }); err != nil {
			t.Fatal(err)
		}
		return readmodeltest.Dump(t, f.Ctx, f.Pool, tables)
	}
	one := apply(func(ctx context.Context, tx pgx.Tx) error {
		for _, ev := range evs {
			if err := a.Apply(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	batch := apply(func(ctx context.Context, tx pgx.Tx) error { return a.ApplyBatch(ctx, tx, evs) })
	if batch != one {
		t.Errorf("ApplyBatch wrote other rows than Apply:\n%s", diffLines(one, batch))
	}
	if !strings.Contains(one, `"outcome":"denied"`) || strings.Count(one, `"event_id"`) <= len(evs) {
		t.Errorf("the world has %d events; the dump should hold a row for each and some denials:\n%.2000s", len(evs), one)
	}
}
