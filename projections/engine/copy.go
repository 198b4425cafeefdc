package engine

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// CopyEvents writes the rows that row derives from evs into table with one COPY, for an
// ApplyBatch. The rows are derived while the COPY streams, one at a time as pgx encodes them,
// so that decoding the events overlaps with Postgres inserting the rows already sent, instead
// of all decoding preceding all inserting, and no batch of rows is held in memory. row returns
// nil to skip an event; its row is encoded before row is called again, so it may reuse one
// slice. An error from row aborts the COPY, leaving tx failed, and is returned as it is.
func CopyEvents(ctx context.Context, tx pgx.Tx, table string, columns []string, evs []Event, row func(Event) ([]any, error)) (int64, error) {
	i := 0
	var rowErr error
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromFunc(func() ([]any, error) {
		for i < len(evs) {
			ev := evs[i]
			i++
			r, err := row(ev)
			if err != nil {
				rowErr = err
				return nil, err
			}
			if r != nil {
				return r, nil
			}
		}
		return nil, nil
	}))
	if rowErr != nil {
		// pgx reports the aborted COPY as Postgres's error, with only row's message.
		return n, rowErr
	}
	return n, err
}
