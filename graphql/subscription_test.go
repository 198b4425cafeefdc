package graphql_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsSubscribe opens a graphql-transport-ws connection authenticated in connection_init and
// starts one subscription; it returns a func reading the next payload (nil on an error or
// complete message, with the error's code).
func wsSubscribe(t *testing.T, s *stack, token, query string, vars map[string]any) func() (map[string]any, string) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial(strings.Replace(s.url, "http://", "ws://", 1), http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send := func(v any) {
		if err := c.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack map[string]any
	if err := c.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("connection_init: %v %v", ack, err)
	}
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	return func() (map[string]any, string) {
		for {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			var m struct {
				Type    string          `json:"type"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("reading the subscription: %v", err)
			}
			switch m.Type {
			case "next":
				var r response
				_ = json.Unmarshal(m.Payload, &r)
				if len(r.Errors) > 0 {
					return nil, r.code()
				}
				return r.Data, ""
			case "error":
				var errs []gqlError
				_ = json.Unmarshal(m.Payload, &errs)
				if len(errs) > 0 {
					c, _ := errs[0].Extensions["code"].(string)
					return nil, c
				}
				return nil, "ERROR"
			case "complete":
				return nil, "COMPLETE"
			}
		}
	}
}

// testSubscriptions: a conversation's owner receives its messages as they are recorded; an
// Admin receives the organisation's audit stream, which a non-Admin may not open.
func testSubscriptions(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	sp := s.space(t, o.adminKey)
	s.addMember(t, o.adminKey, sp, uid, "VIEWER")
	s.mutate(t, o.adminKey, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "modelIds": []any{"test-model"}}})
	asst := s.mutate(t, o.adminKey, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "name": "Helper", "instructions": "Answer.", "modelId": "test-model"}})
	conv := s.mutate(t, ukey, `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"assistantId": asst}})

	next := wsSubscribe(t, s, ukey, `subscription($c: ID!) { messageAdded(conversationId: $c) { id role text } }`, map[string]any{"c": conv})
	audit := wsSubscribe(t, s, o.adminKey, `subscription { auditEvents { id action actorId } }`, nil)
	denied := wsSubscribe(t, s, ukey, `subscription { auditEvents { id } }`, nil)
	if _, code := denied(); code != "FORBIDDEN" {
		t.Errorf("audit stream as a User: %q", code)
	}
	// Give the subscriptions a moment to take their starting positions.
	time.Sleep(200 * time.Millisecond)
	s.ok(t, ukey, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"conversationId": conv, "text": "Hello there"}})
	var roles []string
	for len(roles) < 2 {
		data, code := next()
		if code != "" {
			t.Fatalf("messageAdded: %s", code)
		}
		m := data["messageAdded"].(map[string]any)
		roles = append(roles, m["role"].(string))
		if m["role"] == "USER" && m["text"] != "Hello there" {
			t.Errorf("message = %v", m)
		}
	}
	if roles[0] != "USER" || roles[1] != "ASSISTANT" {
		t.Errorf("roles = %v", roles)
	}
	data, code := audit()
	if code != "" || data["auditEvents"].(map[string]any)["action"] == "" {
		t.Fatalf("auditEvents: %v %s", data, code)
	}
}
