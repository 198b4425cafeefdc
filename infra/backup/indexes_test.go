package backup

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/infra/pgtest"
)

// TestIndexesDroppedForTheLoadComeBackTheSame: the primary key, a unique constraint and a
// plain index dropped before a large table's load are recreated exactly (same definitions,
// still enforced); a table a foreign key references keeps its indexes.
func TestIndexesDroppedForTheLoadComeBackTheSame(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, q := range []string{
		`CREATE SCHEMA s`,
		`CREATE TABLE s.t (pos bigint PRIMARY KEY, stream text NOT NULL, rev bigint NOT NULL, note text, UNIQUE (stream, rev))`,
		`CREATE INDEX t_note ON s.t (note) WHERE note IS NOT NULL`,
		`CREATE TABLE s.parent (id bigint PRIMARY KEY)`,
		`CREATE TABLE s.child (id bigint REFERENCES s.parent (id))`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defs := func(table string) []string {
		rows, _ := pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = 's' AND tablename = $1 ORDER BY indexdef`, table)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := defs("t")
	if len(before) != 3 {
		t.Fatalf("setup: %v", before)
	}
	creates, err := dropIndexes(ctx, pool, `"s"."t"`)
	if err != nil || len(creates) != 3 {
		t.Fatalf("dropIndexes = %v, %v", creates, err)
	}
	if d := defs("t"); len(d) != 0 {
		t.Fatalf("after the drop: %v", d)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO s.t SELECT g, 'st' || (g % 10), g / 10, NULL FROM generate_series(1, 1000) g`); err != nil {
		t.Fatal(err)
	}
	if err := runParallel(ctx, pool, creates, 2); err != nil {
		t.Fatal(err)
	}
	if after := defs("t"); !slices.Equal(after, before) {
		t.Fatalf("indexes after the load:\n%v\nwant\n%v", after, before)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO s.t VALUES (1, 'x', 0, NULL)`); err == nil {
		t.Fatal("the primary key is not enforced after the rebuild")
	}
	if creates, err := dropIndexes(ctx, pool, `"s"."parent"`); err != nil || creates != nil || len(defs("parent")) != 1 {
		t.Fatalf("a referenced table lost its indexes: %v, %v", creates, err)
	}
}
