package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevStartsReadyAndStopsClean runs `arkiv dev` as a person would: it waits for the
// banner, checks /readyz and a GraphQL call with the printed key, sends Ctrl-C (SIGINT),
// and checks that the process exits cleanly and leaves no postgres or weaviate behind.
func TestDevStartsReadyAndStopsClean(t *testing.T) {
	binDir := os.Getenv("ARKIV_BIN_DIR")
	if binDir == "" {
		t.Fatal("ARKIV_BIN_DIR is not set: run through `make test`, which builds Weaviate there")
	}
	if _, err := os.Stat(filepath.Join(binDir, "weaviate-server")); err != nil {
		t.Fatalf("no Weaviate binary in ARKIV_BIN_DIR: %v", err)
	}
	root := t.TempDir()
	// The private cluster runs as the postgres user, which must reach the data directory.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binDir, filepath.Join(data, "bin")); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(root, "arkiv")
	build := exec.Command("go", "build", "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(exe, "dev", "--data-dir", data, "--listen", "127.0.0.1:0")
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARKIV_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	readyRe := regexp.MustCompile(`(https?://\S+)/readyz`)
	keyRe := regexp.MustCompile(`Bearer (\S+)`)
	var base, key string
	timeout := time.After(3 * time.Minute)
	for base == "" || key == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("arkiv dev ended before printing its banner:\n%s", stderr.String())
			}
			if m := readyRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
			if m := keyRe.FindStringSubmatch(l); m != nil {
				key = m[1]
			}
		case <-timeout:
			t.Fatalf("no banner after 3 minutes:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d", resp.StatusCode)
	}
	// The banner is printed once the read models know the key: the first request works.
	if me := queryMe(t, base, key); me == "" {
		t.Fatal("the printed API key does not answer { me { id } }")
	}
	checkPlaygroundOffline(t, base)
	// The console is served too, under its strict CSP.
	cresp, err := http.Get(base + "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	cresp.Body.Close()
	if cresp.StatusCode != http.StatusOK || !strings.Contains(cresp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/console/sign-in = %d, CSP %q", cresp.StatusCode, cresp.Header.Get("Content-Security-Policy"))
	}
	if n := processesUnder(t, root); n == 0 {
		t.Fatal("found no postgres or weaviate process of this dev stack while it runs")
	}

	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("arkiv dev exited with %v after Ctrl-C:\n%s", err, stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("arkiv dev did not stop within 90 s of Ctrl-C")
	}
	if n := processesUnder(t, root); n != 0 {
		t.Fatalf("%d processes of the dev stack outlived arkiv dev", n)
	}
}

// processesUnder counts live processes whose command line mentions dir.
func processesUnder(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cl, []byte(dir)) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(st), ") Z ") {
			continue
		}
		if filepath.Base(string(bytes.SplitN(cl, []byte{0}, 2)[0])) == "arkiv" {
			continue
		}
		n++
	}
	return n
}

// queryMe returns the caller's id, or "" when the query fails.
func queryMe(t *testing.T, base, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Me struct{ ID string } `json:"me"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Data.Me.ID
}
