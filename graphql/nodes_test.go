package graphql_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestCacheSafeIdentities covers issue 14 items 5 and 6: node(id:) answers exactly what the
// typed fields answer (and nothing across organisations), a user in two spaces has two
// memberships, cursors carry no names, mutation payloads return what they changed and
// sendMessage's times are the recorded ones.
func TestCacheSafeIdentities(t *testing.T) {
	s := startStack(t, stackOptions{})
	a := s.newOrg(t, testSettings())
	b := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, a, "USER")
	_, outKey := s.user(t, a, "USER") // a user of A in no space
	sp1, sp2 := s.space(t, a.adminKey), s.space(t, a.adminKey)
	s.addMember(t, a.adminKey, sp1, uid, "VIEWER")
	s.addMember(t, a.adminKey, sp2, uid, "EDITOR")

	// Mutation payloads return the object: the space created, the member's access.
	data := s.ok(t, a.adminKey, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position node { __typename id ... on Space { name myRole } } } }`,
		map[string]any{"in": map[string]any{"name": "Payload space", "classification": "INTERNAL"}})
	res := data["createSpace"].(map[string]any)
	node, _ := res["node"].(map[string]any)
	if node == nil || node["__typename"] != "Space" || node["id"] != res["id"] || node["name"] != "Payload space" || node["myRole"] != "ADMIN" {
		t.Fatalf("createSpace payload node = %v", res)
	}
	sp3 := res["id"].(string)
	data = s.ok(t, a.adminKey, `mutation($in: AddSpaceMemberInput!) { addSpaceMember(input: $in) { id node { __typename id ... on Access { spaceId userId role } } } }`,
		map[string]any{"in": map[string]any{"spaceId": sp3, "userId": uid, "role": "ADMIN"}})
	acc, _ := data["addSpaceMember"].(map[string]any)["node"].(map[string]any)
	if acc == nil || acc["__typename"] != "Access" || acc["spaceId"] != sp3 || acc["userId"] != uid || acc["role"] != "ADMIN" {
		t.Fatalf("addSpaceMember payload node = %v", data)
	}
	data = s.ok(t, a.adminKey, `mutation($id: ID!) { deleteSpace(id: $id) { id node { id } } }`, map[string]any{"id": sp3})
	if data["deleteSpace"].(map[string]any)["node"] != nil {
		t.Errorf("deleteSpace returns the deleted space: %v", data)
	}
	data = s.ok(t, a.adminKey, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id apiKey { id ownerId state } } }`,
		map[string]any{"in": map[string]any{"userId": uid}})
	if k := data["createApiKey"].(map[string]any); k["apiKey"] == nil || k["apiKey"].(map[string]any)["id"] != k["id"] || k["apiKey"].(map[string]any)["ownerId"] != uid {
		t.Errorf("createApiKey payload = %v", k)
	}

	// A user in two spaces: two memberships with distinct ids, each refetchable.
	const qMembers = `query($id: ID!) { space(id: $id) { memberConnection { pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
		edges { cursor node { id userId spaceId role } } } members { userId accessId } } }`
	var ids []string
	for _, sp := range []string{sp1, sp2} {
		conn := s.ok(t, ukey, qMembers, map[string]any{"id": sp})["space"].(map[string]any)
		found := false
		for _, e := range conn["memberConnection"].(map[string]any)["edges"].([]any) {
			n := e.(map[string]any)["node"].(map[string]any)
			if n["userId"] == uid {
				found = true
				ids = append(ids, n["id"].(string))
			}
		}
		for _, m := range conn["members"].([]any) {
			if m := m.(map[string]any); m["userId"] == uid && !strings.Contains(m["accessId"].(string), sp) {
				t.Errorf("SpaceMember.accessId %v names another space", m)
			}
		}
		if !found {
			t.Fatalf("memberConnection of %s lacks the user: %v", sp, conn)
		}
		pi := conn["memberConnection"].(map[string]any)["pageInfo"].(map[string]any)
		if pi["hasPreviousPage"] != false || pi["startCursor"] == nil || pi["endCursor"] == nil {
			t.Errorf("pageInfo = %v", pi)
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("the user's memberships share an id: %v", ids)
	}
	const qNode = `query($id: ID!) { node(id: $id) { __typename id ... on Access { role } ... on Space { myRole } ... on User { id } ... on Document { title } } }`
	for i, want := range []string{"VIEWER", "EDITOR"} {
		n, _ := s.ok(t, ukey, qNode, map[string]any{"id": ids[i]})["node"].(map[string]any)
		if n == nil || n["__typename"] != "Access" || n["role"] != want {
			t.Errorf("node(%s) as the member = %v, want their %s access", ids[i], n, want)
		}
	}

	// node(id:) answers what the typed field answers, to whom it answers it.
	doc := s.mutate(t, a.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp1, "title": "Minutes", "content": "The minutes of the meeting."}})
	for _, tc := range []struct {
		name, key, id string
		visible       bool
	}{
		{"a member reads the space", ukey, sp1, true},
		{"a member reads the document", ukey, doc, true},
		{"a member reads their organisation", ukey, a.id, true},
		{"a user reads themselves", ukey, uid, true},
		{"a non-member does not read the space", outKey, sp1, false},
		{"a non-member does not read the document", outKey, doc, false},
		{"a non-member does not read the membership", outKey, ids[0], false},
		{"a non-member does not read a member who shares no space", outKey, uid, false},
		{"the Admin reads the membership", a.adminKey, ids[0], true},
		{"another organisation's Admin does not read the space", b.adminKey, sp1, false},
		{"another organisation's Admin does not read the document", b.adminKey, doc, false},
		{"another organisation's Admin does not read the membership", b.adminKey, ids[0], false},
		{"another organisation's Admin does not read the user", b.adminKey, uid, false},
		{"another organisation's Admin does not read the organisation", b.adminKey, a.id, false},
		{"nothing under an unknown id", a.adminKey, "00000000-0000-4000-8000-000000000000", false},
	} {
		r := s.do(t, tc.key, qNode, map[string]any{"id": tc.id})
		if len(r.Errors) > 0 {
			t.Errorf("%s: errors %+v", tc.name, r.Errors)
			continue
		}
		n, _ := r.Data["node"].(map[string]any)
		if (n != nil) != tc.visible || n != nil && n["id"] != tc.id {
			t.Errorf("%s: node = %v", tc.name, n)
		}
	}
	nodes := s.ok(t, b.adminKey, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{sp1, doc, uid, b.id}})["nodes"].([]any)
	if len(nodes) != 4 || nodes[0] != nil || nodes[1] != nil || nodes[2] != nil || nodes[3] == nil {
		t.Errorf("nodes as another organisation's Admin = %v", nodes)
	}

	// searchConnection pages by rank; the score is on the edge, the chunk is the node.
	s.mutate(t, a.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp1, "title": "More minutes", "content": "More minutes of another meeting."}})
	const qSearch = `query($s: ID!, $after: String) { searchConnection(spaceId: $s, query: "minutes", first: 1, after: $after) {
		pageInfo { hasNextPage endCursor } edges { cursor score node { id documentId text } } } }`
	var page1 map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		page1 = s.ok(t, ukey, qSearch, map[string]any{"s": sp1})["searchConnection"].(map[string]any)
		if page1["pageInfo"].(map[string]any)["hasNextPage"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two documents are not searchable within 30 s: %v", page1)
		}
	}
	page2 := s.ok(t, ukey, qSearch, map[string]any{"s": sp1, "after": page1["pageInfo"].(map[string]any)["endCursor"]})["searchConnection"].(map[string]any)
	e1, e2 := page1["edges"].([]any), page2["edges"].([]any)
	if len(e1) != 1 || len(e2) != 1 {
		t.Fatalf("search pages: %v / %v", e1, e2)
	}
	h1, h2 := e1[0].(map[string]any), e2[0].(map[string]any)
	if h1["node"].(map[string]any)["id"] == h2["node"].(map[string]any)["id"] || h1["score"].(float64) < h2["score"].(float64) {
		t.Errorf("search pages repeat a chunk or are not best first: %v / %v", h1, h2)
	}

	// Cursors carry no names: the spaces cursor is opaque and holds the id only.
	s.mutate(t, a.adminKey, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"name": "Secret project Falcon", "classification": "INTERNAL"}})
	var after any
	seen := 0
	for {
		conn := s.ok(t, a.adminKey, `query($after: String) { spaces(first: 1, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { id name } } } }`,
			map[string]any{"after": after})["spaces"].(map[string]any)
		for _, e := range conn["edges"].([]any) {
			seen++
			c := e.(map[string]any)["cursor"].(string)
			raw, _ := base64.RawURLEncoding.DecodeString(c)
			if name, _ := e.(map[string]any)["node"].(map[string]any)["name"].(string); name != "" && strings.Contains(string(raw), name) {
				t.Errorf("the cursor %q holds the space's name %q", raw, name)
			}
		}
		pi := conn["pageInfo"].(map[string]any)
		if pi["hasNextPage"] != true {
			break
		}
		after = pi["endCursor"]
	}
	if seen != 3 {
		t.Errorf("paged through %d spaces, want 3", seen)
	}

	// sendMessage returns the times recorded in its events, as the conversation reads them.
	s.mutate(t, a.adminKey, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp2, "models": []string{"test-model"}}})
	if r := s.do(t, a.adminKey, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"spaceId": sp2, "models": []string{"test-model"}, "modelIds": []string{"other"}}}); r.code() != "INVALID" {
		t.Errorf("models and modelIds that differ: %+v", r.Errors)
	}
	asst := s.mutate(t, a.adminKey, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp2, "name": "Helper", "instructions": "Answer briefly.", "model": "test-model"}})
	got := s.ok(t, a.adminKey, `query($s: ID!) { space(id: $s) { modelIds } assistants(spaceId: $s) { edges { node { id modelId } } } }`,
		map[string]any{"s": sp2})
	if m := got["space"].(map[string]any)["modelIds"].([]any); len(m) != 1 || m[0] != "test-model" {
		t.Errorf("modelIds = %v", m)
	}
	conv := s.mutate(t, ukey, `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"assistantId": asst}})
	sent := s.ok(t, ukey, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { position message { id sentAt } reply { id sentAt } } }`,
		map[string]any{"in": map[string]any{"conversationId": conv, "text": "What do the minutes say?"}})["sendMessage"].(map[string]any)
	read := s.ok(t, ukey, `query($c: ID!, $at: String) { conversation(id: $c, consistentAt: $at) { messages { edges { node { id sentAt } } } } }`,
		map[string]any{"c": conv, "at": sent["position"]})["conversation"].(map[string]any)["messages"].(map[string]any)["edges"].([]any)
	recorded := map[string]string{}
	for _, e := range read {
		n := e.(map[string]any)["node"].(map[string]any)
		recorded[n["id"].(string)] = n["sentAt"].(string)
	}
	for _, k := range []string{"message", "reply"} {
		m := sent[k].(map[string]any)
		if r, ok := recorded[m["id"].(string)]; !ok || !sameMicro(r, m["sentAt"].(string)) {
			t.Errorf("sendMessage's %s sentAt %v, recorded %q", k, m["sentAt"], r)
		}
	}
	// Messages are nodes for the conversation's owner only.
	msg := sent["message"].(map[string]any)["id"].(string)
	if n := s.ok(t, ukey, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": msg})["node"]; n == nil {
		t.Error("the owner cannot fetch their message by node(id:)")
	}
	if n := s.ok(t, a.adminKey, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": msg})["node"]; n != nil {
		t.Errorf("the Admin fetches another user's message: %v", n)
	}

	// The password policy reads back what updateOrganizationSettings takes.
	pp := s.ok(t, a.adminKey, `{ organization { settings { passwordPolicy { minLength requireUpper requireDigit requireSymbol maxAgeDays historyEntries } } } }`,
		nil)["organization"].(map[string]any)["settings"].(map[string]any)["passwordPolicy"].(map[string]any)
	if pp["minLength"] != float64(testSettings().Password.MinLength) {
		t.Errorf("passwordPolicy = %v", pp)
	}
}

// sameMicro reports whether two RFC 3339 times are the same to the microsecond (Postgres
// keeps microseconds).
func sameMicro(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Truncate(time.Microsecond).Equal(tb.Truncate(time.Microsecond))
}
