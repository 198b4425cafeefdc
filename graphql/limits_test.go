package graphql_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arkiv/arkiv/graphql"
)

// TestLimits: the endpoint's limits on request size, subscriptions per connection and the
// rate of expensive operations, per credential and per address, answered 429 with
// Retry-After.
func TestLimits(t *testing.T) {
	perKey, err := graphql.ParseRateLimits("search=2/m:2,export=1/h")
	if err != nil {
		t.Fatal(err)
	}
	perAddr, err := graphql.ParseRateLimits("login=3/m,search=5/m:5")
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stackOptions{limits: graphql.RateLimits{PerKey: perKey, PerAddress: perAddr}})
	o := s.newOrg(t, testSettings())
	space := s.space(t, o.adminKey)
	keys := make([]string, 3)
	for i := range keys {
		uid, key := s.user(t, o, "USER")
		s.addMember(t, o.adminKey, space, uid, "VIEWER")
		keys[i] = key
	}
	search := `query($s: ID!) { search(spaceId: $s, query: "budget") { score } }`
	vars := map[string]any{"s": space}

	t.Run("per key", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := s.do(t, keys[0], search, vars); len(r.Errors) > 0 {
				t.Fatalf("search %d: %+v", i+1, r.Errors)
			}
		}
		status, retry, code := post(t, s, keys[0], search, vars, "application/json")
		if status != http.StatusTooManyRequests || code != "RATE_LIMITED" || retry < 1 || retry > 60 {
			t.Fatalf("third search: status %d, Retry-After %d, code %q; want 429, 1..60 s, RATE_LIMITED", status, retry, code)
		}
		// Another credential from the same address still has its own bucket.
		if r := s.do(t, keys[1], search, vars); len(r.Errors) > 0 {
			t.Fatalf("another key was limited: %+v", r.Errors)
		}
	})
	t.Run("aliases count and a refused operation takes nothing", func(t *testing.T) {
		three := `query($s: ID!) { a: search(spaceId: $s, query: "x") { score } b: search(spaceId: $s, query: "y") { score } c: search(spaceId: $s, query: "z") { score } }`
		if status, _, code := post(t, s, keys[2], three, vars, "application/graphql-response+json"); status != http.StatusTooManyRequests || code != "RATE_LIMITED" {
			t.Fatalf("three aliased searches over a burst of 2: status %d, code %q", status, code)
		}
		if r := s.do(t, keys[2], search, vars); len(r.Errors) > 0 {
			t.Fatalf("the refused operation used up the bucket: %+v", r.Errors)
		}
	})
	t.Run("per address", func(t *testing.T) {
		// keys[0] 2, keys[1] 1, keys[2] 1 (and a refused 3): the address has used 4 of 5.
		if r := s.do(t, o.adminKey, search, vars); len(r.Errors) > 0 {
			t.Fatalf("fifth search from the address: %+v", r.Errors)
		}
		if status, _, code := post(t, s, o.adminKey, search, vars, "application/json"); status != http.StatusTooManyRequests || code != "RATE_LIMITED" {
			t.Fatalf("sixth search from the address: status %d, code %q", status, code)
		}
	})
	t.Run("buckets refill on the clock", func(t *testing.T) {
		s.clock.Advance(time.Minute)
		if r := s.do(t, keys[0], search, vars); len(r.Errors) > 0 {
			t.Fatalf("after a minute: %+v", r.Errors)
		}
	})
	t.Run("login per address", func(t *testing.T) {
		login := `mutation($in: LoginInput!) { login(input: $in) { token } }`
		in := map[string]any{"in": map[string]any{"organizationId": o.id, "login": "nobody@example.org", "password": "not-the-password-1"}}
		for i := 0; i < 3; i++ {
			if r := s.do(t, "", login, in); r.Status != http.StatusOK || r.code() == "RATE_LIMITED" {
				t.Fatalf("login %d: %d %s", i+1, r.Status, r.code())
			}
		}
		if status, retry, code := post(t, s, "", login, in, "application/json"); status != http.StatusTooManyRequests || code != "RATE_LIMITED" || retry < 1 {
			t.Fatalf("fourth login: status %d, Retry-After %d, code %q", status, retry, code)
		}
	})
	t.Run("exports per key", func(t *testing.T) {
		export := `mutation { exportAuditLog(format: JSONL, justification: "quarterly access review of the space") { complete } }`
		if r := s.do(t, o.adminKey, export, nil); len(r.Errors) > 0 {
			t.Fatalf("first export: %+v", r.Errors)
		}
		if status, retry, code := post(t, s, o.adminKey, export, nil, "application/json"); status != http.StatusTooManyRequests || code != "RATE_LIMITED" || retry < 60 {
			t.Fatalf("second export within the hour: status %d, Retry-After %d, code %q", status, retry, code)
		}
	})
	t.Run("over a WebSocket", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, _, err := d.Dial(strings.Replace(s.url, "http://", "ws://", 1), http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + keys[1]}})
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil || m["type"] != "connection_ack" {
			t.Fatalf("connection_init: %v %v", m, err)
		}
		// A minute has passed: keys[1] has two searches.
		codes := ""
		for i := 0; i < 3; i++ {
			_ = c.WriteJSON(map[string]any{"id": strconv.Itoa(i), "type": "subscribe", "payload": map[string]any{"query": search, "variables": vars}})
			for {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if err := c.ReadJSON(&m); err != nil {
					t.Fatal(err)
				}
				if m["type"] == "complete" {
					break
				}
				b, _ := json.Marshal(m["payload"])
				if strings.Contains(string(b), "RATE_LIMITED") {
					codes += "R"
					if m["type"] == "error" {
						break
					}
				} else if m["type"] == "next" {
					codes += "."
				}
			}
		}
		if codes != "..R" {
			t.Fatalf("three searches over a socket with two tokens: %q, want two answers and one RATE_LIMITED", codes)
		}
	})
	t.Run("request size", func(t *testing.T) {
		huge := `query { me { id } } # ` + strings.Repeat("x", 1<<20)
		status, _, code := post(t, s, o.adminKey, huge, nil, "application/json")
		if status != http.StatusRequestEntityTooLarge || code != "INVALID" {
			t.Fatalf("a body over 1 MiB: status %d, code %q; want 413 INVALID", status, code)
		}
	})
	t.Run("subscriptions per connection", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, _, err := d.Dial(strings.Replace(s.url, "http://", "ws://", 1), http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + o.adminKey}})
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil || m["type"] != "connection_ack" {
			t.Fatalf("connection_init: %v %v", m, err)
		}
		for i := 0; i <= 20; i++ {
			_ = c.WriteJSON(map[string]any{"id": strconv.Itoa(i), "type": "subscribe", "payload": map[string]any{"query": `subscription { auditEvents { id } }`}})
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("no error for the 21st subscription: %v", err)
			}
			if m["type"] == "error" {
				if m["id"] != "20" {
					t.Fatalf("subscription %v refused, want the 21st (id 20): %v", m["id"], m)
				}
				break
			}
		}
	})
}

// post sends an operation and returns the status, the Retry-After header (seconds) and the
// first error's code.
func post(t *testing.T, s *stack, token, query string, vars map[string]any, accept string) (status, retry int, code string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	_ = json.NewDecoder(resp.Body).Decode(&r)
	retry, _ = strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, retry, r.code()
}
