// Package canarytest collects the secrets tests use — API keys, tokens, passwords, key
// material — so that `make test` can scan the logs of the whole suite for them afterwards
// (tools/scan-canaries.sh): a secret in a log is a leak.
package canarytest

import (
	"os"
	"strings"
	"sync"
	"testing"
)

var mu sync.Mutex

// Record appends each secret, one a line, to the file named by ARKIV_CANARY_FILE (`make
// test` sets it); without it Record does nothing. Secrets shorter than 8 bytes are skipped:
// they would match by chance.
func Record(t testing.TB, secrets ...string) {
	t.Helper()
	path := os.Getenv("ARKIV_CANARY_FILE")
	if path == "" {
		return
	}
	var b strings.Builder
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < 8 || strings.ContainsAny(s, "\n\r") {
			continue
		}
		b.WriteString(s + "\n")
	}
	if b.Len() == 0 {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("canary file: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatalf("canary file: %v", err)
	}
}
