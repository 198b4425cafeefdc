package postgres_test

import (
	"context"
	"testing"

	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/jackc/pgx/v5"
)

func TestMigrateCreatesProjectionTablesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	for i := 0; i < 2; i++ {
		if err := postgres.Migrate(ctx, dsn); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	applied, latest, err := postgres.Version(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if applied != latest || latest < 1 {
		t.Fatalf("applied %d, latest %d", applied, latest)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"projection_checkpoints", "projection_status"} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", "public."+table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("table %s missing after migrate", table)
		}
	}
}

func TestMigrateReportsUnreachableDatabase(t *testing.T) {
	t.Parallel()
	err := postgres.Migrate(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("migrate against a closed port succeeded")
	}
}
