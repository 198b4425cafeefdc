package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestNewDatabaseIsolated(t *testing.T) {
	a, b := NewPool(t), NewPool(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Exec(ctx, "SELECT * FROM only_in_a")
	if err == nil {
		t.Fatal("a table created in one test database is visible in another")
	}
	var name string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname=$1", name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("database %s not found on the server (n=%d, err=%v)", name, n, err)
	}
}
