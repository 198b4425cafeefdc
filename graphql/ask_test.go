package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// modelServer is an OpenAI-compatible chat-completions server on loopback standing in for
// an allow-listed model: it records every request body it receives and streams a fixed
// answer word by word; requests under /broken/ fail with HTTP 503.
type modelServer struct {
	srv    *httptest.Server
	answer string

	mu     sync.Mutex
	bodies [][]byte
}

func newModelServer(t *testing.T, answer string) *modelServer {
	m := &modelServer{answer: answer}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.bodies = append(m.bodies, body)
		m.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/broken/") {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i, word := range strings.SplitAfter(m.answer, " ") {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": word}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			if i%3 == 0 {
				w.(http.Flusher).Flush()
			}
		}
		fmt.Fprintf(w, "data: %s\n\n", `{"choices":[],"usage":{"prompt_tokens":42,"completion_tokens":7}}`)
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// received returns the bodies received so far.
func (m *modelServer) received() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.bodies...)
}

const (
	mEnableModels = `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`
	mCreateAsst   = `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`
	mIngest       = `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`
	mStartConv    = `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`
	mSend         = `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id position message { id text } reply { id text excerpts { documentId chunkId score } } } }`
	qInvocations  = `query($f: ModelInvocationFilter, $j: String, $at: String) { modelInvocations(filter: $f, justification: $j, consistentAt: $at) {
		edges { node { id model region outcome error userId spaceId assistantId conversationId messageId payloadLogged request requestComplete
			requestSha256 response promptTokens completionTokens latencyMillis attempts invokedAt excerpts { documentId chunkId chunkIndex score } } } } }`
)

// testAskThroughModels sends messages through the RAG pipeline to a local model server, the
// offline answerer, a model the policy refuses and a model that fails, and reads back what
// was sent as an Admin.
func testAskThroughModels(t *testing.T, s *stack) {
	const answer = "Quokkas live on Rottnest Island [1]."
	ms := newModelServer(t, answer)
	settings := testSettings()
	settings.EUOnly = false
	settings.Models = append(settings.Models,
		domain.AllowedModel{ID: "local-model", Endpoint: ms.srv.URL + "/v1", Region: domain.RegionEU, MaxClassification: domain.ClassRestricted},
		domain.AllowedModel{ID: "us-model", Endpoint: ms.srv.URL + "/us/v1", Region: domain.RegionUS, MaxClassification: domain.ClassRestricted},
		domain.AllowedModel{ID: "broken-model", Endpoint: ms.srv.URL + "/broken/v1", Region: domain.RegionEU, MaxClassification: domain.ClassRestricted})
	for _, m := range settings.Models[1:] {
		s.addModels(t, nil, domain.CatalogEntry{ID: m.ID, Endpoint: m.Endpoint, Region: m.Region})
	}
	o := s.newOrg(t, settings)
	uid, ukey := s.user(t, o, "USER")
	sp := s.mutate(t, o.adminKey, mCreateSpace, map[string]any{"in": map[string]any{"name": "Wildlife", "classification": "CONFIDENTIAL"}})
	other := s.mutate(t, o.adminKey, mCreateSpace, map[string]any{"in": map[string]any{"name": "Other", "classification": "INTERNAL"}})
	s.addMember(t, o.adminKey, sp, uid, "VIEWER")
	s.mutate(t, o.adminKey, mEnableModels, map[string]any{"in": map[string]any{"spaceId": sp,
		"modelIds": []any{"local-model", "us-model", "broken-model", "test-model"}}})
	doc := s.mutate(t, o.adminKey, mIngest, map[string]any{"in": map[string]any{"spaceId": sp, "title": "Quokkas",
		"content": "Quokkas live on Rottnest Island off the coast of Western Australia and are famous for their smiles. " +
			"The island's rangers count the quokka population every autumn. " +
			"Visitors must never feed the quokkas because human food makes them ill."}})
	s.mutate(t, o.adminKey, mIngest, map[string]any{"in": map[string]any{"spaceId": other, "title": "Canary",
		"content": "Quokkas canary-7f3e: this text of another space must never reach a model answering in the Wildlife space."}})
	assistant := func(name, model string) string {
		return s.mutate(t, o.adminKey, mCreateAsst, map[string]any{"in": map[string]any{"spaceId": sp, "name": name,
			"instructions": "Answer briefly.", "modelId": model, "logModelPayloads": true}})
	}
	local, offline, us, broken := assistant("Local", "local-model"), assistant("Offline", "test-model"),
		assistant("US", "us-model"), assistant("Broken", "broken-model")
	conversation := func(asst string) string {
		return s.mutate(t, ukey, mStartConv, map[string]any{"in": map[string]any{"assistantId": asst}})
	}

	t.Run("local model: only the space's excerpts are sent, tokens stream to the subscriber", func(t *testing.T) {
		conv := conversation(local)
		next := wsSubscribe(t, s, ukey, `subscription($c: ID!) { replyStream(conversationId: $c) { conversationId messageId delta done error } }`,
			map[string]any{"c": conv})
		waitSubscribed(t, s, o.id, conv)
		sent := s.ok(t, ukey, mSend, map[string]any{"in": map[string]any{"conversationId": conv, "text": "Where do quokkas live?"}})["sendMessage"].(map[string]any)
		reply := sent["reply"].(map[string]any)
		if reply["text"] != answer {
			t.Fatalf("reply = %v, want the model's answer", reply)
		}
		var streamed strings.Builder
		for {
			data, code := next()
			if code != "" {
				t.Fatalf("replyStream: %s", code)
			}
			d := data["replyStream"].(map[string]any)
			if d["conversationId"] != conv || d["messageId"] != reply["id"] || d["error"] != nil {
				t.Fatalf("delta = %v", d)
			}
			streamed.WriteString(d["delta"].(string))
			if d["done"] == true {
				break
			}
		}
		if streamed.String() != answer {
			t.Fatalf("streamed %q, want %q", streamed.String(), answer)
		}
		bodies := ms.received()
		if len(bodies) != 1 {
			t.Fatalf("the model received %d requests, want 1", len(bodies))
		}
		body := bodies[0]
		if !bytes.Contains(body, []byte("Rottnest Island")) || !bytes.Contains(body, []byte("Where do quokkas live?")) {
			t.Fatalf("the model did not receive the space's excerpt and the question: %s", body)
		}
		if bytes.Contains(body, []byte("canary-7f3e")) {
			t.Fatalf("the model received another space's text: %s", body)
		}
		if bytes.Contains(body, []byte("off the coast")) && bytes.Contains(body, []byte("rangers count")) && bytes.Contains(body, []byte("human food")) {
			t.Fatalf("the model received a whole document: %s", body)
		}
		exc := reply["excerpts"].([]any)
		if len(exc) == 0 {
			t.Fatal("the reply cites no excerpt")
		}
		for _, e := range exc {
			if e.(map[string]any)["documentId"] != doc {
				t.Fatalf("excerpt of another document: %v", e)
			}
		}

		// What was sent, as an Admin sees it: byte for byte what the model received.
		inv := s.ok(t, o.adminKey, qInvocations, map[string]any{"f": map[string]any{"assistantId": local},
			"j": "Checking what reached the local model for the DPIA.", "at": sent["position"]})
		edges := inv["modelInvocations"].(map[string]any)["edges"].([]any)
		if len(edges) != 1 {
			t.Fatalf("%d invocations, want 1", len(edges))
		}
		n := edges[0].(map[string]any)["node"].(map[string]any)
		if n["request"] != string(body) || n["requestComplete"] != true {
			t.Fatalf("recorded request differs from what the model received:\n%v\n%s", n["request"], body)
		}
		if n["model"] != "local-model" || n["region"] != "EU" || n["outcome"] != "OK" || n["userId"] != uid || n["spaceId"] != sp ||
			n["conversationId"] != conv || n["promptTokens"] != float64(42) || n["completionTokens"] != float64(7) ||
			!strings.Contains(n["response"].(string), "Rottnest") || n["requestSha256"] == nil {
			t.Fatalf("invocation = %v", n)
		}
		if ex := n["excerpts"].([]any); len(ex) != len(exc) || ex[0].(map[string]any)["documentId"] != doc || ex[0].(map[string]any)["chunkId"] == nil {
			t.Fatalf("invocation excerpts = %v", ex)
		}

		// Nobody else may read it; the Admin's read is in the audit log.
		if r := s.do(t, ukey, qInvocations, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("modelInvocations as a User: %+v", r.Errors)
		}
		if r := s.do(t, o.adminKey, qInvocations, map[string]any{"j": "too short"}); r.code() != "INVALID" {
			t.Fatalf("modelInvocations with a short justification: %+v", r.Errors)
		}
		s.waitFor(t, func() bool {
			audit := s.ok(t, o.adminKey, `query($f: AuditFilter) { auditLog(filter: $f, justification: "Verifying that model reads are audited.") { edges { node { action actorId } } } }`,
				map[string]any{"f": map[string]any{"action": "access.model_invocations_viewed.v1"}})
			edges := audit["auditLog"].(map[string]any)["edges"].([]any)
			return len(edges) == 1 && edges[0].(map[string]any)["node"].(map[string]any)["actorId"] == o.adminID
		})
	})

	t.Run("offline model answers from the space without a network", func(t *testing.T) {
		before := len(ms.received())
		conv := conversation(offline)
		sent := s.ok(t, ukey, mSend, map[string]any{"in": map[string]any{"conversationId": conv, "text": "Where do quokkas live?"}})["sendMessage"].(map[string]any)
		text := sent["reply"].(map[string]any)["text"].(string)
		if !strings.Contains(text, "Rottnest") || strings.Contains(text, "canary") {
			t.Fatalf("offline reply = %q", text)
		}
		if len(ms.received()) != before {
			t.Fatal("the offline model called the network")
		}
	})

	t.Run("a US-hosted model is refused for a Confidential space", func(t *testing.T) {
		conv := conversation(us)
		// The organisation tightens its policy: the US model may now see INTERNAL data only.
		tight := settings
		tight.Models = append([]domain.AllowedModel(nil), settings.Models...)
		for i := range tight.Models {
			if tight.Models[i].ID == "us-model" {
				tight.Models[i].MaxClassification = domain.ClassInternal
			}
		}
		if _, err := s.p.App.ChangeOrganizationSettings.Handle(context.Background(), commands.ChangeOrganizationSettings{
			Meta: commands.Meta{CommandID: "tighten-" + conv, ActorID: o.adminID}, Settings: tight}); err != nil {
			t.Fatal(err)
		}
		before := len(ms.received())
		r := s.do(t, ukey, mSend, map[string]any{"in": map[string]any{"conversationId": conv, "text": "Where do quokkas live?"}})
		if r.code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "may not see data classified CONFIDENTIAL") {
			t.Fatalf("sendMessage to a US model in a Confidential space: %+v", r.Errors)
		}
		if len(ms.received()) != before {
			t.Fatal("a refused request reached the model")
		}
		var inv map[string]any
		s.waitFor(t, func() bool {
			inv = s.ok(t, o.adminKey, qInvocations, map[string]any{"f": map[string]any{"assistantId": us}, "j": "Reviewing refused model calls."})
			return len(inv["modelInvocations"].(map[string]any)["edges"].([]any)) == 1
		})
		n := inv["modelInvocations"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)
		if n["outcome"] != "REFUSED" || n["region"] != "US" || n["request"] != nil || !strings.Contains(n["error"].(string), "CONFIDENTIAL") {
			t.Fatalf("refused invocation = %v", n)
		}
	})

	t.Run("a failing model is UNAVAILABLE and recorded", func(t *testing.T) {
		conv := conversation(broken)
		r := s.do(t, ukey, mSend, map[string]any{"in": map[string]any{"conversationId": conv, "text": "Where do quokkas live?"}})
		if r.code() != "UNAVAILABLE" || !strings.Contains(r.Errors[0].Message, "model did not answer") {
			t.Fatalf("sendMessage to a failing model: %+v", r.Errors)
		}
		var n map[string]any
		s.waitFor(t, func() bool {
			inv := s.ok(t, o.adminKey, qInvocations, map[string]any{"f": map[string]any{"assistantId": broken}})
			edges := inv["modelInvocations"].(map[string]any)["edges"].([]any)
			if len(edges) == 1 {
				n = edges[0].(map[string]any)["node"].(map[string]any)
			}
			return n != nil
		})
		if n["outcome"] != "ERROR" || n["attempts"].(float64) < 2 || n["request"] == nil {
			t.Fatalf("failed invocation = %v", n)
		}
	})
}

// waitSubscribed waits until the platform has a replyStream subscriber for the conversation.
func waitSubscribed(t *testing.T, s *stack, orgID, conv string) {
	t.Helper()
	s.waitFor(t, func() bool { return s.p.Replies.Subscribers(orgID, conv) > 0 })
}

// waitFor polls cond for up to 20 s.
func (s *stack) waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
