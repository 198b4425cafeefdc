package devstack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WeaviateVersion is the Weaviate server the dev stack builds and runs.
const WeaviateVersion = "v1.35.2"

const weaviateModule = "github.com/weaviate/weaviate/cmd/weaviate-server"

// Weaviate is a local Weaviate server with persistence under the data directory.
type Weaviate struct {
	// URL is the server's REST base, e.g. http://127.0.0.1:41234.
	URL      string
	GRPCPort int
	// Ports are the ports it listens on; StartWeaviateOnPorts starts it there again.
	Ports WeaviatePorts
	child *child
}

// WeaviatePorts are the ports of a Weaviate server: REST, gRPC, gossip and data (Raft uses
// the two after the data port).
type WeaviatePorts struct{ HTTP, GRPC, Gossip, Data int }

// WeaviateBinary returns the path of the Weaviate server under binDir, building it with
// `go install` on first use. Progress (packages compiled) goes to progress.
func WeaviateBinary(ctx context.Context, binDir string, progress io.Writer) (string, error) {
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(abs, "weaviate-server")
	if isExec(bin) {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building Weaviate needs the go command on PATH: %w", err)
	}
	tmp := filepath.Join(abs, ".build")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(progress, "building Weaviate %s from its Go module (first run only; a few minutes)\n", WeaviateVersion)
	cmd := exec.CommandContext(ctx, goBin, "install", "-v", weaviateModule+"@"+WeaviateVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir()
	out, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	start := time.Now()
	var last []string
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		n++
		last = append(last, line)
		if len(last) > 20 {
			last = last[1:]
		}
		if n%25 == 0 {
			fmt.Fprintf(progress, "\rbuilding Weaviate: %d packages, %s", n, time.Since(start).Round(time.Second))
		}
	}
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(progress)
		return "", fmt.Errorf("building Weaviate failed: %v\n%s", err, joinLines(last))
	}
	fmt.Fprintf(progress, "\rbuilding Weaviate: done, %d packages in %s\n", n, time.Since(start).Round(time.Second))
	if err := os.Rename(filepath.Join(tmp, "weaviate-server"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

func joinLines(ls []string) string {
	s := ""
	for _, l := range ls {
		s += l + "\n"
	}
	return s
}

// StartWeaviate starts the server bound to loopback with anonymous access and no vectorizer,
// persistence under dataDir/weaviate, and waits until it is ready.
func StartWeaviate(ctx context.Context, bin, dataDir string, log *slog.Logger) (*Weaviate, error) {
	// Free ports are picked, then released for Weaviate to bind: another process on the
	// machine may take one in between (several stacks starting at once do). Such a start
	// fails fast with "address already in use"; it is retried on fresh ports.
	for attempt := 1; ; attempt++ {
		ports, err := weaviatePorts()
		if err != nil {
			return nil, err
		}
		w, err := StartWeaviateOnPorts(ctx, bin, dataDir, ports, log)
		if err == nil || attempt == 4 || !strings.Contains(tailFile(filepath.Join(dataDir, "weaviate.log"), 3000), "address already in use") {
			return w, err
		}
		log.Info("weaviate could not bind a port; retrying on others", "attempt", attempt)
	}
}

// weaviatePorts picks Weaviate's ports: HTTP, gRPC, gossip and data, where the two ports
// after the data port (Raft's) are free too.
func weaviatePorts() (WeaviatePorts, error) {
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return WeaviatePorts{}, err
		}
		ports[i] = p
	}
	for range 20 {
		data, err := freePort()
		if err != nil {
			return WeaviatePorts{}, err
		}
		if data+2 < 65535 && portFree(data+1) && portFree(data+2) && !slices.Contains(ports, data+1) && !slices.Contains(ports, data+2) {
			return WeaviatePorts{HTTP: ports[0], GRPC: ports[1], Gossip: ports[2], Data: data}, nil
		}
	}
	return WeaviatePorts{}, fmt.Errorf("no three consecutive free ports for Weaviate's data and Raft ports")
}

// portFree reports whether a loopback TCP port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// StartWeaviateOnPorts is StartWeaviate on given ports: the fault tests start a stopped
// server again where its clients expect it.
func StartWeaviateOnPorts(ctx context.Context, bin, dataDir string, ports WeaviatePorts, log *slog.Logger) (*Weaviate, error) {
	base, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(base, "weaviate")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	httpPort, grpcPort, gossip, data := ports.HTTP, ports.GRPC, ports.Gossip, ports.Data
	logPath := filepath.Join(base, "weaviate.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(httpPort), "--scheme", "http")
	cmd.Env = append(os.Environ(),
		"PERSISTENCE_DATA_PATH="+dir,
		"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true",
		"DEFAULT_VECTORIZER_MODULE=none",
		"CLUSTER_HOSTNAME=arkiv-dev",
		"CLUSTER_ADVERTISE_ADDR=127.0.0.1",
		"CLUSTER_GOSSIP_BIND_PORT="+strconv.Itoa(gossip),
		"CLUSTER_DATA_BIND_PORT="+strconv.Itoa(data),
		"RAFT_PORT="+strconv.Itoa(data+1),
		"RAFT_INTERNAL_RPC_PORT="+strconv.Itoa(data+2),
		"RAFT_BOOTSTRAP_EXPECT=1",
		"GRPC_PORT="+strconv.Itoa(grpcPort),
		"DISABLE_TELEMETRY=true",
		"LIMIT_RESOURCES=true",
		// BM25 in Weaviate 1.35 walks the whole unflushed write buffer (memtable) of the
		// searchable index on every query to average the property lengths: 5,000 freshly
		// imported chunks cost ~55 ms a query until the buffer is flushed, ~2 ms after. The
		// default flushes a buffer 60 s after its first write; 5 s keeps keyword and hybrid
		// search fast a few seconds after ingestion, at the price of more, smaller segments
		// for compaction to merge.
		"PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS=5",
		"GOMAXPROCS=2",
		"LOG_FORMAT=json",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	c, err := startChild("weaviate", cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	w := &Weaviate{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), GRPCPort: grpcPort, Ports: ports, child: c}
	hc := &http.Client{Timeout: 2 * time.Second}
	err = waitFor(ctx, c, 120*time.Second, func() string { return tailFile(logPath, 3000) }, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.URL+"/v1/.well-known/ready", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ready check answered %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		_ = c.Stop(10 * time.Second)
		return nil, err
	}
	log.Info("weaviate ready", "url", w.URL)
	return w, nil
}

// Close stops the server.
func (w *Weaviate) Close() error { return w.child.Stop(30 * time.Second) }
