package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/gorilla/websocket"

	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
)

// serveProc is an `arkiv serve` child process whose JSON log lines the test reads.
type serveProc struct {
	name string
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []string
	more chan struct{} // closed and replaced at each new line
	done chan struct{}
}

// startServe runs `exe serve ARGS` with env and waits until it logs that it serves.
func startServe(t *testing.T, exe, name string, env []string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{name: name, more: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(exe, append([]string{"serve", "--listen", "127.0.0.1:0", "--insecure-http", "--allow-plaintext=postgres,weaviate,esdb,models"}, args...)...)
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logText())
		}
	})
	line := p.waitLog(t, 90*time.Second, func(m map[string]any) bool { return m["msg"] == "serving" })
	p.url, _ = line["url"].(string)
	return p
}

func (p *serveProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// waitLog waits for a JSON log line that match accepts, among all lines so far and later.
func (p *serveProc) waitLog(t *testing.T, within time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(within)
	seen := 0
	for {
		p.mu.Lock()
		lines, more := p.logs[seen:], p.more
		seen = len(p.logs)
		p.mu.Unlock()
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && match(m) {
				return m
			}
		}
		select {
		case <-more:
		case <-p.done:
			t.Fatalf("%s exited (%v) before the expected log line:\n%s", p.name, p.cmd.ProcessState, p.logText())
		case <-deadline:
			t.Fatalf("%s: no expected log line within %s:\n%s", p.name, within, p.logText())
		}
	}
}

func lockLine(lock, msgPart string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		s, _ := m["msg"].(string)
		return m["lock"] == lock && strings.Contains(s, msgPart)
	}
}

// gql posts a GraphQL operation and decodes its data into out, failing on errors.
func gql(t *testing.T, base, key, query string, vars map[string]any, out any) {
	t.Helper()
	if err := tryGQL(base, key, query, vars, out); err != nil {
		t.Fatal(err)
	}
}

func tryGQL(base, key, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %d %s", query, resp.StatusCode, b)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s: %s", query, r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// scaleoutStack is the shared services of a scale-out deployment, and the environment an
// `arkiv serve` process of it gets.
type scaleoutStack struct {
	exe, pg, esdb  string
	env            []string
	key, assistant string
}

func newScaleoutStack(t *testing.T, nats bool) *scaleoutStack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := &scaleoutStack{exe: filepath.Join(dir, "arkiv"), pg: pgtest.NewDatabase(t)}
	if out, err := exec.Command("go", "build", "-o", s.exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: s.pg, Listen: "127.0.0.1:0", DefaultUsers: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close(context.Background()) })
	s.esdb = es.ConnectionString()
	kek := filepath.Join(dir, "kek.json")
	if _, err := keyring.LoadOrCreateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	signing := filepath.Join(dir, "ledger-key")
	if err := createSigningKey(signing, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	cfg := platformConfig{Listen: "127.0.0.1:0", PGURL: s.pg, ESDBURL: s.esdb, WeaviateURL: weaviatetest.URL(t),
		WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"), KEKFile: kek, LoginKey: strings.Repeat("ab", 32),
		SigningKeyFile: signing, CheckpointEvery: "1000", CheckpointInterval: "10s", Projections: true, Role: roleAll, Dev: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARKIV_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "ARKIV_PG_URL="+s.pg, "ARKIV_ESDB_URL="+s.esdb, "ARKIV_WEAVIATE_URL="+cfg.WeaviateURL,
		"ARKIV_KEK_FILE="+kek, "ARKIV_AUTH_LOGIN_KEY="+cfg.LoginKey, "ARKIV_SIGNING_KEY_FILE="+signing,
		"ARKIV_ERASURE_EVERY=300ms", "ARKIV_LOG_LEVEL=info")
	if cfg.WeaviateGRPC != "" {
		s.env = append(s.env, "ARKIV_WEAVIATE_GRPC="+cfg.WeaviateGRPC)
	}
	if nats {
		s.env = append(s.env, "ARKIV_NATS_URL="+natsURL(t))
	}
	// The organisation, its Admin and the offline assistant, set up in-process as
	// `arkiv dev` does; the serve processes then find them in the log.
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.DiscardHandler)}
	p, err := openPlatform(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = devLogin(ctx, env, p, dir)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	var a devAdmin
	b, err := os.ReadFile(filepath.Join(dir, "dev-admin.json"))
	if err != nil || json.Unmarshal(b, &a) != nil {
		t.Fatalf("dev-admin.json: %v", err)
	}
	s.key, s.assistant = a.APIKey, a.DemoAssistantID
	return s
}

func natsURL(t *testing.T) string {
	u := os.Getenv("ARKIV_NATS_URL")
	if u == "" {
		t.Fatal("ARKIV_NATS_URL is not set: run the tests inside `arkiv stack exec` (make test)")
	}
	return u
}

// waitAuthorized waits until base knows the API key (the workers have projected it).
func (s *scaleoutStack) waitAuthorized(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var me struct {
			Me struct{ ID string } `json:"me"`
		}
		err := tryGQL(base, s.key, `{ me { id } }`, nil, &me)
		if err == nil && me.Me.ID != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept the API key after 60 s: %v", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replySubscription opens replyStream for a conversation on base over graphql-transport-ws.
func replySubscription(t *testing.T, base, key, conversationID string) <-chan map[string]any {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(strings.Replace(base, "http", "ws", 1)+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + key}}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := c.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("connection_init answered %v, %v", ack, err)
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($c: ID!) { replyStream(conversationId: $c) { delta done error } }`,
		"variables": map[string]any{"c": conversationID}}}); err != nil {
		t.Fatal(err)
	}
	out := make(chan map[string]any, 1024)
	go func() {
		defer close(out)
		for {
			var m struct {
				Type    string `json:"type"`
				Payload struct {
					Data struct {
						ReplyStream map[string]any `json:"replyStream"`
					} `json:"data"`
				} `json:"payload"`
			}
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			switch m.Type {
			case "next":
				out <- m.Payload.Data.ReplyStream
			case "error", "complete":
				out <- map[string]any{"error": "subscription " + m.Type}
				return
			}
		}
	}()
	return out
}

// erasureCompletions counts erasure.completed.v1 in an erasure's stream.
func erasureCompletions(t *testing.T, esdbURL, erasureID string) int {
	t.Helper()
	conf, err := esdb.ParseConnectionString(esdbURL)
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := c.ReadStream(ctx, "erasure-"+erasureID, esdb.ReadStreamOptions{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := 0
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n
		}
		var ese *esdb.Error
		if errors.As(err, &ese) && ese.Code() == esdb.ErrorCodeResourceNotFound {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Event.EventType == "erasure.completed.v1" {
			n++
		}
	}
}

func startConversation(t *testing.T, base string, s *scaleoutStack) string {
	t.Helper()
	var r struct {
		StartConversation struct{ ID, Position string } `json:"startConversation"`
	}
	gql(t, base, s.key, `mutation($a: ID!) { startConversation(input: {assistantId: $a}) { id position } }`,
		map[string]any{"a": s.assistant}, &r)
	return r.StartConversation.ID
}

// waitConversation reads the conversation back on base once the read models have it.
func waitConversation(t *testing.T, base string, s *scaleoutStack, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r struct {
			Conversation *struct{ ID string } `json:"conversation"`
		}
		err := tryGQL(base, s.key, `query($id: ID!) { conversation(id: $id) { id } }`, map[string]any{"id": id}, &r)
		if err == nil && r.Conversation != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversation %s not readable on %s after 30 s: %v", id, base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitErasureCompleted waits until the erasure's stream holds its completion.
func waitErasureCompleted(t *testing.T, s *scaleoutStack, erasureID string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for erasureCompletions(t, s.esdb, erasureID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("erasure %s not completed within %s", erasureID, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScaleOutAcrossProcesses runs two API replicas and two workers as separate `arkiv
// serve` processes on one Postgres, event store, Weaviate and NATS: a client subscribed to
// replyStream on replica A receives the tokens of a sendMessage sent through replica B;
// the process managers run on one worker only, and killing it (SIGKILL) lets the other take
// over within seconds, with each erasure completed exactly once.
func TestScaleOutAcrossProcesses(t *testing.T) {
	s := newScaleoutStack(t, true)
	w1 := startServe(t, s.exe, "worker-1", s.env, "--role", "workers")
	w1.waitLog(t, 30*time.Second, lockLine("process-managers", "holding the lock"))
	w2 := startServe(t, s.exe, "worker-2", s.env, "--role", "workers")
	w2.waitLog(t, 30*time.Second, lockLine("process-managers", "standing by"))
	a := startServe(t, s.exe, "api-a", s.env, "--role", "api")
	b := startServe(t, s.exe, "api-b", s.env, "--role", "api")
	s.waitAuthorized(t, a.url)
	s.waitAuthorized(t, b.url)

	// Reply tokens cross replicas.
	conv := startConversation(t, b.url, s)
	waitConversation(t, a.url, s, conv)
	deltas := replySubscription(t, a.url, s.key, conv)
	time.Sleep(500 * time.Millisecond) // the subscription is registered on A
	var sent struct {
		SendMessage struct {
			Reply struct{ Text string } `json:"reply"`
		} `json:"sendMessage"`
	}
	gql(t, b.url, s.key, `mutation($c: ID!) { sendMessage(input: {conversationId: $c, text: "How does erasure work?"}) { reply { text } } }`,
		map[string]any{"c": conv}, &sent)
	var text strings.Builder
	for done := false; !done; {
		select {
		case d, ok := <-deltas:
			if !ok {
				t.Fatal("the subscription on replica A ended before the reply was done")
			}
			if e, _ := d["error"].(string); e != "" {
				t.Fatalf("the reply failed: %s", e)
			}
			s, _ := d["delta"].(string)
			text.WriteString(s)
			done, _ = d["done"].(bool)
		case <-time.After(30 * time.Second):
			t.Fatalf("replica A received %q of the reply sent through replica B", text.String())
		}
	}
	if text.Len() == 0 || !strings.Contains(sent.SendMessage.Reply.Text, strings.TrimSpace(text.String())[:min(20, len(strings.TrimSpace(text.String())))]) {
		t.Fatalf("replica A streamed %q; the recorded reply is %q", text.String(), sent.SendMessage.Reply.Text)
	}

	// An erasure while worker 1 holds the process managers.
	var er struct {
		RequestErasure struct{ ID string } `json:"requestErasure"`
	}
	erase := `mutation($id: ID!) { requestErasure(input: {subjectType: CONVERSATION, subjectId: $id, graceDays: 0}) { id } }`
	gql(t, a.url, s.key, erase, map[string]any{"id": conv}, &er)
	first := er.RequestErasure.ID
	waitErasureCompleted(t, s, first, 30*time.Second)

	// Kill worker 1 without warning; worker 2 takes over.
	killed := time.Now()
	if err := w1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w1.done
	w2.waitLog(t, 15*time.Second, lockLine("process-managers", "holding the lock"))
	if d := time.Since(killed); d > 10*time.Second {
		t.Fatalf("worker 2 took the process managers over %s after worker 1 died", d)
	}
	conv2 := startConversation(t, b.url, s)
	gql(t, b.url, s.key, erase, map[string]any{"id": conv2}, &er)
	second := er.RequestErasure.ID
	waitErasureCompleted(t, s, second, 30*time.Second)
	// A few more erasure rounds on worker 2: neither erasure is completed again.
	time.Sleep(2 * time.Second)
	for _, id := range []string{first, second} {
		if n := erasureCompletions(t, s.esdb, id); n != 1 {
			t.Fatalf("erasure %s completed %d times", id, n)
		}
	}
}

// TestServeRefusesBadReplicaCombinations: a second API replica beside one without NATS,
// and contradictory role flags, each get one line and exit status 2.
func TestServeRefusesBadReplicaCombinations(t *testing.T) {
	s := newScaleoutStack(t, false)
	startServe(t, s.exe, "api-alone", s.env, "--role", "api")
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(s.exe, append([]string{"serve", "--listen", "127.0.0.1:0", "--insecure-http", "--allow-plaintext=postgres,weaviate,esdb,models"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("serve %v did not fail: %v\n%s", args, err, stderr.String())
		}
		var last string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if !strings.HasPrefix(l, "{") {
				last = l
			}
		}
		return ee.ExitCode(), last
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"second replica without NATS", s.env, []string{"--role", "api"}, "another API replica of this deployment is running"},
		{"second replica with NATS beside one without", append(append([]string{}, s.env...), "ARKIV_NATS_URL="+natsURL(t)),
			[]string{"--role", "all"}, "runs without ARKIV_NATS_URL"},
		{"unknown role", s.env, []string{"--role", "everything"}, "--role must be api, workers or all"},
		{"contradictory flags", s.env, []string{"--role", "workers", "--projections=false"}, "--role workers contradicts --projections=false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, line := run(c.env, c.args...)
			if code != 2 || !strings.Contains(line, c.want) {
				t.Fatalf("exit %d, %q; want exit 2 and a line with %q", code, line, c.want)
			}
		})
	}
	// A worker needs no fan-out and starts beside the API replica.
	w := startServe(t, s.exe, "worker", s.env, "--role", "workers")
	w.waitLog(t, 30*time.Second, lockLine("process-managers", "holding the lock"))
}
