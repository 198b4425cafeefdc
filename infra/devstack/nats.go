package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// natsDefaultPort is the port a NATS server takes by default; the private server never
// uses it, so that it cannot collide with (or be mistaken for) a NATS already running.
const natsDefaultPort = 4222

// NATS is a private NATS server with JetStream, its store under the data directory.
type NATS struct {
	// URL is the client URL, e.g. nats://127.0.0.1:41234.
	URL         string
	Port        int
	MonitorPort int
	child       *child
}

// ErrNoNATS says that no nats-server binary was found.
var ErrNoNATS = errors.New("no nats-server binary found: install Debian's nats-server package " +
	"(apt-get install nats-server) or set ARKIV_NATS_URL")

// NATSBinary finds nats-server on $PATH or where Debian installs it (/usr/sbin, which is not
// on every user's PATH).
func NATSBinary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"} {
		if isExec(p) {
			return p, nil
		}
	}
	return "", ErrNoNATS
}

// natsPort returns a free loopback port other than NATS's default.
func natsPort() (int, error) {
	for {
		p, err := freePort()
		if err != nil || p != natsDefaultPort {
			return p, err
		}
	}
}

// StartNATS starts nats-server with JetStream bound to loopback on a free port (never
// 4222), its JetStream store under dataDir/nats and its log in dataDir/nats.log, and waits
// until its health check (which covers JetStream) passes.
func StartNATS(ctx context.Context, dataDir string, log *slog.Logger) (*NATS, error) {
	bin, err := NATSBinary()
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	store := filepath.Join(base, "nats")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	port, err := natsPort()
	if err != nil {
		return nil, err
	}
	mon, err := natsPort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(base, "nats.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--jetstream", "--store_dir", store,
		"--addr", "127.0.0.1", "--port", strconv.Itoa(port), "--http_port", strconv.Itoa(mon),
		"--server_name", "arkiv-dev")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = base
	c, err := startChild("nats-server", cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	n := &NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Port: port, MonitorPort: mon, child: c}
	hc := &http.Client{Timeout: 2 * time.Second}
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", mon)
	err = waitFor(ctx, c, 30*time.Second, func() string { return tailFile(logPath, 2000) }, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health check answered %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		_ = c.Stop(10 * time.Second)
		return nil, err
	}
	log.Info("nats ready", "url", n.URL)
	return n, nil
}

// Close stops the server; SIGTERM lets JetStream flush its store.
func (n *NATS) Close() error { return n.child.Stop(15 * time.Second) }
