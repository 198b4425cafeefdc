package devstack

import (
	"context"
	"log/slog"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPrivatePostgresStartsAndStops(t *testing.T) {
	if _, err := PostgresBinDir(); err != nil {
		t.Fatalf("the dev stack needs Postgres binaries (make test installs them): %v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	pg, err := StartPostgres(ctx, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if pg.Port == 5432 {
		t.Fatal("the private cluster took the system port 5432")
	}
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "arkiv" {
		t.Fatalf("current_database = %q, %v", db, err)
	}
	conn.Close(ctx)
	pid := pg.child.cmd.Process.Pid
	if err := pg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("postgres (pid %d) still runs after Close", pid)
	}
	// A second start reuses the cluster created by the first.
	pg2, err := StartPostgres(ctx, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pg2.Close()
	if pg2.URL == "" {
		t.Fatal("no URL on restart")
	}
}

func TestChildStopEscalatesToKill(t *testing.T) {
	cmd := exec.Command("sh", "-c", "trap '' TERM; sleep 60")
	c, err := startChild("stubborn", cmd, syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Stop(300 * time.Millisecond); err == nil {
		t.Fatal("Stop of a process ignoring SIGTERM reported a clean stop")
	}
	if !c.exited() {
		t.Fatal("the child still runs after Stop")
	}
}
