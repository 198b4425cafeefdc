package graphql_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsCloseCode opens an authenticated graphql-transport-ws socket with an open audit
// subscription, runs change, and returns the code the server closes the socket with.
func wsCloseCode(t *testing.T, s *stack, token string, change func()) int {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial(strings.Replace(s.url, "http://", "ws://", 1), http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack map[string]any
	if err := c.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("connection_init: %v %v", ack, err)
	}
	_ = c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { auditEvents { id } }`}})
	change()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			t.Fatalf("the socket stayed open: %v", err)
		}
	}
}

// testSocketAuthorisation: a socket ends with 4403 within seconds of its user's
// deactivation or role loss.
func testSocketAuthorisation(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	for _, tc := range []struct {
		name   string
		change func(uid string)
	}{
		{"deactivation", func(uid string) {
			s.mutate(t, o.adminKey, `mutation($in: DeactivateUserInput!) { deactivateUser(input: $in) { id position } }`,
				map[string]any{"in": map[string]any{"userId": uid}})
		}},
		{"role loss", func(uid string) {
			s.mutate(t, o.adminKey, `mutation($in: RevokeOrgRoleInput!) { revokeOrgRole(input: $in) { id position } }`,
				map[string]any{"in": map[string]any{"userId": uid, "role": "ADMIN"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, key := s.user(t, o, "ADMIN")
			if code := wsCloseCode(t, s, key, func() { tc.change(uid) }); code != 4403 {
				t.Errorf("close code %d, want 4403", code)
			}
		})
	}
}
