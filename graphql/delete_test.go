package graphql_test

import (
	"testing"
)

// TestDeleteSpaceAndAssistant: a space's Admin deletes an assistant and then the space; a
// Viewer of the space may do neither; what is deleted is gone from every member's lists.
func TestDeleteSpaceAndAssistant(t *testing.T) {
	s := startStack(t, stackOptions{})
	o := s.newOrg(t, testSettings())
	_, owner := s.user(t, o, "CREATOR")
	viewerID, viewer := s.user(t, o, "USER")
	sp := s.space(t, owner)
	s.addMember(t, owner, sp, viewerID, "VIEWER")
	s.mutate(t, owner, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "modelIds": []any{"test-model"}}})
	asst := s.mutate(t, owner, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "name": "Helper", "instructions": "Be brief.", "modelId": "test-model"}})

	const qAssistants = `query($s: ID!) { assistants(spaceId: $s) { edges { node { id } } } }`
	count := func(token, q string, vars map[string]any, field string) int {
		t.Helper()
		return len(s.ok(t, token, q, vars)[field].(map[string]any)["edges"].([]any))
	}
	if n := count(viewer, qAssistants, map[string]any{"s": sp}, "assistants"); n != 1 {
		t.Fatalf("the viewer sees %d assistants, want 1", n)
	}
	if r := s.do(t, viewer, `mutation($id: ID!) { deleteAssistant(id: $id) { id position } }`, map[string]any{"id": asst}); r.code() != "FORBIDDEN" {
		t.Fatalf("deleteAssistant as a Viewer: %+v", r.Errors)
	}
	s.mutate(t, owner, `mutation($id: ID!) { deleteAssistant(id: $id) { id position } }`, map[string]any{"id": asst})
	if n := count(viewer, qAssistants, map[string]any{"s": sp}, "assistants"); n != 0 {
		t.Fatalf("after deleteAssistant the viewer sees %d assistants", n)
	}

	const qSpaces = `{ spaces { edges { node { id } } } }`
	if n := count(viewer, qSpaces, nil, "spaces"); n != 1 {
		t.Fatalf("the viewer sees %d spaces, want 1", n)
	}
	if r := s.do(t, viewer, `mutation($id: ID!) { deleteSpace(id: $id) { id position } }`, map[string]any{"id": sp}); r.code() != "FORBIDDEN" {
		t.Fatalf("deleteSpace as a Viewer: %+v", r.Errors)
	}
	if r := s.do(t, o.adminKey, `mutation($id: ID!) { deleteSpace(id: $id) { id position } }`, map[string]any{"id": "not-a-uuid"}); r.code() != "INVALID" {
		t.Fatalf("deleteSpace with a bad id: %+v", r.Errors)
	}
	s.mutate(t, owner, `mutation($id: ID!) { deleteSpace(id: $id) { id position } }`, map[string]any{"id": sp})
	for _, tok := range []string{viewer, owner} {
		if n := count(tok, qSpaces, nil, "spaces"); n != 0 {
			t.Fatalf("after deleteSpace a member sees %d spaces", n)
		}
	}
}
