package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// recorder is an OpenAI-compatible server on loopback that records every request body and
// can fail the first attempts.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	auth   []string
	fail   atomic.Int32 // fail this many requests with 503
	stall  atomic.Int32 // stall this many requests past the client's timeout
}

func (rc *recorder) handler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, b)
	rc.auth = append(rc.auth, r.Header.Get("Authorization"))
	rc.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	if rc.fail.Add(-1) >= 0 {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	if rc.stall.Add(-1) >= 0 {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, tok := range []string{"Hello", " from", " the", " model."} {
		fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", tok)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n")
}

func newRecorder(t *testing.T) (*recorder, *httptest.Server) {
	rc := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(rc.handler))
	t.Cleanup(srv.Close)
	return rc, srv
}

func request(excerpts ...commands.ModelExcerpt) commands.ModelRequest {
	var b strings.Builder
	for _, e := range excerpts {
		fmt.Fprintf(&b, "[%d] %s\n", e.Number, e.Text)
	}
	return commands.ModelRequest{Model: "m-1", Question: "What is the budget for bridges?",
		Messages: []commands.ChatMessage{{Role: "system", Content: "Answer from the excerpts."},
			{Role: "user", Content: b.String() + "\nQuestion: What is the budget for bridges?"}},
		Excerpts: excerpts}
}

const docA, docB = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"

func TestOpenAIStreamsAndReturnsTheExactPayload(t *testing.T) {
	rc, srv := newRecorder(t)
	c, err := NewOpenAI(srv.URL, Config{APIKey: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	req := request(commands.ModelExcerpt{Number: 1, DocumentID: docA, Text: "The bridge budget is <5 MSEK> & \"fixed\"."})
	req.OnToken = func(d string) { got = append(got, d) }
	res, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Hello from the model." || strings.Join(got, "") != res.Text || len(got) != 4 {
		t.Fatalf("text %q, deltas %q", res.Text, got)
	}
	if res.PromptTokens != 42 || res.CompletionTokens != 4 || res.Attempts != 1 {
		t.Fatalf("usage %d/%d attempts %d", res.PromptTokens, res.CompletionTokens, res.Attempts)
	}
	if len(rc.bodies) != 1 || string(rc.bodies[0]) != string(res.RequestPayload) {
		t.Fatal("the returned payload differs from what the server received")
	}
	if rc.auth[0] != "Bearer sk-test" {
		t.Fatal("API key header not sent")
	}
	var body map[string]any
	if err := json.Unmarshal(rc.bodies[0], &body); err != nil || body["stream"] != true {
		t.Fatalf("body %s", rc.bodies[0])
	}
	// The parts rejoin the payload and isolate the excerpt (JSON-escaped) under its document.
	var joined strings.Builder
	docParts := 0
	for _, p := range res.RequestParts {
		joined.WriteString(p.Text)
		if len(p.Documents) > 0 {
			docParts++
			if p.Documents[0] != docA || !strings.Contains(p.Text, "bridge budget") {
				t.Fatalf("document part %q %v", p.Text, p.Documents)
			}
		}
	}
	if joined.String() != string(res.RequestPayload) || docParts != 1 {
		t.Fatalf("%d document parts; parts rejoin: %v", docParts, joined.String() == string(res.RequestPayload))
	}
	if !strings.Contains(string(res.ResponsePayload), "[DONE]") {
		t.Fatal("raw response not kept")
	}
}

func TestOpenAIRetriesWithinBounds(t *testing.T) {
	rc, srv := newRecorder(t)
	c, _ := NewOpenAI(srv.URL+"/v1", Config{MaxAttempts: 3, BackoffInitial: time.Millisecond, Timeout: 300 * time.Millisecond})
	rc.fail.Store(2)
	res, err := c.Complete(context.Background(), request())
	if err != nil || res.Attempts != 3 || len(rc.bodies) != 3 {
		t.Fatalf("after two 503s: %v, %d attempts, %d requests", err, res.Attempts, len(rc.bodies))
	}
	rc.fail.Store(5)
	res, err = c.Complete(context.Background(), request())
	if !domain.Is(domain.KindUnavailable, err) || res.Attempts != 3 || res.Timeout || len(res.RequestPayload) == 0 {
		t.Fatalf("persistent 503: %v, attempts %d, timeout %v", err, res.Attempts, res.Timeout)
	}
	if !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("error %q does not say why", err)
	}
	rc.fail.Store(0)
	rc.stall.Store(5)
	start := time.Now()
	res, err = c.Complete(context.Background(), request())
	if !domain.Is(domain.KindUnavailable, err) || !res.Timeout || res.Attempts != 3 || time.Since(start) > 3*time.Second {
		t.Fatalf("stalled server: %v, timeout %v, attempts %d, took %s", err, res.Timeout, res.Attempts, time.Since(start))
	}
}

// TestOpenAIBackoffHonoursRetryAfterAndGivesUp: a Retry-After is waited for, capped at
// BackoffMax; a client error is not retried; a cancelled caller stops the retries.
func TestOpenAIBackoffHonoursRetryAfterAndGivesUp(t *testing.T) {
	var calls atomic.Int32
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		// A 429 fails only the first call; any other status fails every call.
		if n := calls.Add(1); n == 1 || status.Load() != http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "30")
			http.Error(w, "slow down", int(status.Load()))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	c, _ := NewOpenAI(srv.URL, Config{MaxAttempts: 3, BackoffInitial: time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: time.Second})

	status.Store(http.StatusTooManyRequests)
	start := time.Now()
	res, err := c.Complete(context.Background(), request())
	if err != nil || res.Attempts != 2 || res.Text != "ok" || time.Since(start) > 5*time.Second {
		t.Fatalf("after a 429 with Retry-After 30: %v, %d attempts, %q, took %s (Retry-After not capped at BackoffMax?)", err, res.Attempts, res.Text, time.Since(start))
	}

	status.Store(http.StatusBadRequest)
	calls.Store(0)
	res, err = c.Complete(context.Background(), request())
	if !domain.Is(domain.KindUnavailable, err) || res.Attempts != 1 || calls.Load() != 1 {
		t.Fatalf("a 400 was retried: %v, %d attempts, %d calls", err, res.Attempts, calls.Load())
	}

	status.Store(http.StatusServiceUnavailable)
	slow, _ := NewOpenAI(srv.URL, Config{MaxAttempts: 10, BackoffInitial: time.Hour, BackoffMax: time.Hour, Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	res, err = slow.Complete(ctx, request())
	if !domain.Is(domain.KindUnavailable, err) || res.Attempts != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("a cancelled caller: %v, %d attempts, took %s", err, res.Attempts, time.Since(start))
	}
}

func TestOfflineAnswersFromExcerptsWithCitations(t *testing.T) {
	o := NewOffline()
	req := request(
		commands.ModelExcerpt{Number: 1, DocumentID: docA, Text: "The city council met in May. The budget for bridges is 40 million kronor. Parks got less."},
		commands.ModelExcerpt{Number: 2, DocumentID: docB, Text: "Bridges over the river need repair. Schools are fine."},
	)
	var deltas strings.Builder
	req.OnToken = func(d string) { deltas.WriteString(d) }
	res, err := o.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "The budget for bridges is 40 million kronor. [1]") || !strings.Contains(res.Text, "[1] document "+docA) {
		t.Fatalf("answer %q", res.Text)
	}
	if strings.Contains(res.Text, "Parks got less") || strings.Contains(res.Text, "Schools are fine") {
		t.Fatalf("answer has unrelated sentences: %q", res.Text)
	}
	if deltas.String() != res.Text {
		t.Fatal("streamed tokens do not make up the answer")
	}
	want, _ := BuildPayload(req)
	if string(res.RequestPayload) != string(want) || res.CompletionTokens == 0 {
		t.Fatal("offline payload is not the chat-completions body")
	}
	none, _ := o.Complete(context.Background(), request(commands.ModelExcerpt{Number: 1, DocumentID: docA, Text: "Nothing relevant here."}))
	if none.Text != NoAnswer {
		t.Fatalf("unrelated excerpts gave %q", none.Text)
	}
}

func TestRouter(t *testing.T) {
	catalog := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(catalog, []byte(`[
		{"id": "x", "endpoint": "https://llm.example.eu/v1", "region": "EU"},
		{"id": "y", "endpoint": "https://other.example.eu/v1", "region": "SE", "keyEnv": "Y_KEY"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ARKIV_LLM_API_KEYS": "llm.example.eu=k1", "ARKIV_LLM_API_KEY": "operator-key",
		"ARKIV_LLM_TIMEOUT": "5s", "ARKIV_MODEL_CATALOG": catalog, "Y_KEY": "ky"}
	r, err := RouterFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Provider(domain.AllowedModel{ID: OfflineModel, Endpoint: OfflineEndpoint})
	if _, ok := p.(*Offline); err != nil || !ok {
		t.Fatalf("offline endpoint routed to %T, %v", p, err)
	}
	p, _ = r.Provider(domain.AllowedModel{ID: "x", Endpoint: "https://llm.example.eu/v1"})
	if c, ok := p.(*OpenAI); !ok || c.URL() != "https://llm.example.eu/v1/chat/completions" || c.cfg.APIKey != "k1" {
		t.Fatalf("remote endpoint routed to %T", p)
	}
	// keyEnv names the key; never ARKIV_LLM_API_KEY.
	p, _ = r.Provider(domain.AllowedModel{ID: "y", Endpoint: "https://other.example.eu/v1"})
	if c, ok := p.(*OpenAI); !ok || c.cfg.APIKey != "ky" {
		t.Fatalf("keyEnv entry routed to %T", p)
	}
	// An endpoint outside the catalogue, or a catalogue id at another endpoint, gets nothing.
	for _, m := range []domain.AllowedModel{{ID: "evil", Endpoint: "https://attacker.example/v1"},
		{ID: "x", Endpoint: "https://attacker.example/v1"}} {
		if p, err := r.Provider(m); !domain.Is(domain.KindForbidden, err) || p != nil {
			t.Fatalf("%v routed to %T, %v", m, p, err)
		}
	}
	if got := r.Catalog().Entries(); len(got) != 2 || got[1].Region != domain.RegionSE {
		t.Fatalf("catalogue = %+v", got)
	}
	if _, err := RouterFromEnv(func(k string) string { return map[string]string{"ARKIV_LLM_API_KEYS": "nokey"}[k] }); err == nil {
		t.Fatal("bad key list accepted")
	}
	for _, bad := range []string{`{"id": "x"}`, `[{"id": "x", "endpoint": "ftp://x/v1", "region": "EU"}]`,
		`[{"id": "x", "endpoint": "https://x/v1", "region": "MARS"}]`, `[{"id": "x", "endpoint": "https://x/v1", "region": "EU", "key": "sk-1"}]`} {
		if err := os.WriteFile(catalog, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := RouterFromEnv(func(k string) string { return env[k] })
		if !domain.Is(domain.KindInvalid, err) || strings.Contains(err.Error(), "sk-1") {
			t.Fatalf("catalogue %s: %v", bad, err)
		}
	}
}

func TestSplitPayloadFallsBackToWholePayload(t *testing.T) {
	parts := SplitPayload([]byte(`{"a":"x"}`), []commands.ModelExcerpt{{DocumentID: docA, Text: "not there"}})
	if len(parts) != 1 || parts[0].Text != `{"a":"x"}` || parts[0].Documents[0] != docA {
		t.Fatalf("parts %+v", parts)
	}
}
