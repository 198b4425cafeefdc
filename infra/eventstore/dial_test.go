package eventstore

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func TestClientLoggerWritesJSONThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f := clientLogger(log)
	// The client passes its arguments as one slice.
	f(esdb.LogWarn, "trying candidate '%s'...", []interface{}{"127.0.0.1:2113"})
	f(esdb.LogDebug, "not shown at info level %d", []interface{}{1})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (debug filtered), got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q", lines[0])
	}
	if rec["level"] != "WARN" || rec["msg"] != "eventstore client: trying candidate '127.0.0.1:2113'..." {
		t.Fatalf("record %v", rec)
	}
	if _, err := Dial("not a connection string", log); err == nil {
		t.Fatal("a bad connection string was accepted")
	}
}
