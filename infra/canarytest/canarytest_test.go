package canarytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordAndScan: recorded secrets land in the canary file (short ones skipped), and
// tools/scan-canaries.sh fails on a log holding one and passes on clean logs.
func TestRecordAndScan(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "canaries")
	t.Setenv("ARKIV_CANARY_FILE", file)
	secret := "arkiv_canary_" + strings.Repeat("x7", 16)
	Record(t, secret, "short", "two\nlines are skipped")
	b, err := os.ReadFile(file)
	if err != nil || string(b) != secret+"\n" {
		t.Fatalf("canary file %q, %v", b, err)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(logs, "serve.log")
	if err := os.WriteFile(clean, []byte(`{"level":"INFO","msg":"serving"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scan := func() (int, string) {
		cmd := exec.Command("../../tools/scan-canaries.sh", file, logs)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := scan(); code != 0 {
		t.Fatalf("clean logs: exit %d: %s", code, out)
	}
	leaky := filepath.Join(logs, "leak.log")
	if err := os.WriteFile(leaky, []byte(`{"msg":"request","auth":"Bearer `+secret+`"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := scan()
	if code != 1 || !strings.Contains(out, "leak.log: 1 line") {
		t.Fatalf("a leaked secret: exit %d: %s", code, out)
	}
	if strings.Contains(out, secret) {
		t.Fatal("the scan printed the secret it found")
	}
}
