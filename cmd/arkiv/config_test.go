package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// runCLI runs the binary's entry point in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = run(ctx, env, args)
	return code, out.String(), errOut.String()
}

// oneLine fails unless s is exactly one non-empty line.
func oneLine(t *testing.T, s string) {
	t.Helper()
	if lines := strings.Split(strings.TrimRight(s, "\n"), "\n"); len(lines) != 1 || lines[0] == "" {
		t.Fatalf("want one line on stderr, got %q", s)
	}
}

// TestBootstrapWithUnreadableKEKIsAConfigError reproduces the panic in openWriteSide's
// cleanup: an unusable key-encryption-key file is one clear line and exit status 2.
func TestBootstrapWithUnreadableKEKIsAConfigError(t *testing.T) {
	es := eventstoretest.New(t)
	keystore := pgtest.NewDatabase(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("not a KEK file"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "world-readable.json")
	if err := keyring.GenerateKEKFile(open); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kek := range []string{garbage, open, dir} {
		code, _, stderr := runCLI(t, "bootstrap", "--org", "Region Test", "--admin-email", "dpo@region.example",
			"--esdb-url", es.URL, "--keystore-url", keystore, "--kek-file", kek)
		if code != 2 {
			t.Fatalf("kek %s: exit %d, want 2: %s", kek, code, stderr)
		}
		oneLine(t, stderr)
		if !strings.Contains(stderr, "ARKIV_KEK_FILE") {
			t.Fatalf("kek %s: the error does not name the setting: %q", kek, stderr)
		}
	}
	empty, err := es.Store.Empty(context.Background())
	if err != nil || !empty {
		t.Fatalf("a refused bootstrap wrote events (empty=%v, %v)", empty, err)
	}
}

func TestKeysGenerateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "kek.json")
	code, stdout, stderr := runCLI(t, "keys", "generate-kek", "--out", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat %s: %v, %v", path, fi, err)
	}
	kek, err := keyring.LoadKEKFile(path)
	if err != nil {
		t.Fatalf("the generated file does not load: %v", err)
	}
	if v, err := kek.CurrentVersion(context.Background()); err != nil || v != 1 {
		t.Fatalf("current version %d, %v", v, err)
	}
	before, _ := os.ReadFile(path)
	if strings.Contains(stdout, string(before)) || strings.Contains(stdout, "Versions") {
		t.Fatalf("the key was printed: %q", stdout)
	}
	// A second run never overwrites a KEK.
	code, _, stderr = runCLI(t, "keys", "generate-kek", "--out", path)
	if code != 2 {
		t.Fatalf("overwrite: exit %d, want 2", code)
	}
	oneLine(t, stderr)
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("generate-kek overwrote an existing KEK file")
	}
	if code, _, _ := runCLI(t, "keys", "generate-kek"); code != 2 {
		t.Fatalf("no --out: exit %d, want 2", code)
	}
}

func TestKeysWithBadKEKIsAConfigError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "kek.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "keys", "status", "--kek-file", bad, "--keystore-url", "postgres://127.0.0.1:1/x")
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	oneLine(t, stderr)
}
