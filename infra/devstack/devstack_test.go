package devstack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	// The cluster runs as the postgres user when the test runs as root: let it reach dir,
	// so the cluster lives there (and is removed with it) rather than under a fallback.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pg, err := StartPostgres(ctx, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres", "PG_VERSION")); err != nil {
		t.Fatalf("the cluster is not under the data directory: %v", err)
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

// TestChildDiesWithParent kills a process that started a child through startChild with
// SIGKILL — no chance to clean up — and checks that the child dies too.
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("ARKIV_DEVSTACK_HELPER") == "1" {
		c, err := startChild("sleeper", exec.Command("sleep", "300"), syscall.SIGTERM)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.cmd.Process.Pid)
		select {}
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	helper.Env = append(os.Environ(), "ARKIV_DEVSTACK_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(bufio.NewReader(out), &pid); err != nil || pid <= 0 {
		_ = helper.Process.Kill()
		t.Fatalf("helper did not report its child: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("child %d not running: %v", pid, err)
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The child is reparented and reaped by init once it dies; until then it may linger
		// as a zombie, which /proc shows as state Z.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d outlived its killed parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPrivateNATSStartsWithJetStream starts the private NATS server and checks that it is
// off the default port, serves JetStream with its store under the data directory, and is
// gone after Close.
func TestPrivateNATSStartsWithJetStream(t *testing.T) {
	if _, err := NATSBinary(); err != nil {
		t.Fatalf("the dev stack needs nats-server (make test installs it): %v", err)
	}
	dir := t.TempDir()
	n, err := StartNATS(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if n.Port == natsDefaultPort || n.MonitorPort == natsDefaultPort {
		t.Fatalf("the private NATS took the default port %d", natsDefaultPort)
	}
	if !strings.HasPrefix(n.URL, "nats://127.0.0.1:") {
		t.Fatalf("URL %q is not a loopback NATS URL", n.URL)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.MonitorPort))
	if err != nil {
		t.Fatal(err)
	}
	var jsz struct {
		Config struct {
			StoreDir string `json:"store_dir"`
		} `json:"config"`
		Disabled bool `json:"disabled"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jsz)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if jsz.Disabled || !strings.HasPrefix(jsz.Config.StoreDir, filepath.Join(dir, "nats")) {
		t.Fatalf("JetStream disabled=%v, store %q not under %s", jsz.Disabled, jsz.Config.StoreDir, dir)
	}
	pid := n.child.cmd.Process.Pid
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("nats-server (pid %d) still runs after Close", pid)
	}
}
