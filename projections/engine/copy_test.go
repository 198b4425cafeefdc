package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

func TestCopyEventsWritesDerivedRowsSkipsNilAndAbortsOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE copied (stream text, revision bigint)`); err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for i := range 1000 {
		evs = append(evs, engine.Event{Stream: fmt.Sprint("s-", i%7), Revision: uint64(i)})
	}
	row := func(ev engine.Event) ([]any, error) {
		if ev.Revision%3 == 0 {
			return nil, nil // not this projection's business
		}
		return []any{ev.Stream, int64(ev.Revision)}, nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		n, err := engine.CopyEvents(ctx, tx, "copied", []string{"stream", "revision"}, evs, row)
		if err == nil && n != 666 {
			err = fmt.Errorf("copied %d rows, want 666", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	if err := pool.QueryRow(ctx, `SELECT count(*), sum(revision) FROM copied WHERE revision % 3 <> 0`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	var all int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM copied`).Scan(&all)
	if n != 666 || all != 666 || sum != 499500-166833 {
		t.Fatalf("rows %d (of which skippable %d), revision sum %d", all, all-n, sum)
	}

	// A row that cannot be derived aborts the COPY: nothing of the batch is written.
	bad := errors.New("undecodable payload")
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := engine.CopyEvents(ctx, tx, "copied", []string{"stream", "revision"}, evs, func(ev engine.Event) ([]any, error) {
			if ev.Revision == 500 {
				return nil, bad
			}
			return []any{"again", int64(ev.Revision)}, nil
		})
		return err
	})
	if !errors.Is(err, bad) {
		t.Fatalf("error %v, want the row func's", err)
	}
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM copied WHERE stream = 'again'`).Scan(&all)
	if all != 0 {
		t.Fatalf("%d rows of the failed batch were written", all)
	}
}
