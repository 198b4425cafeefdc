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
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

const (
	mCreateScimToken = `mutation($in: CreateScimTokenInput!) { createScimToken(input: $in) { id secret prefix position } }`
	scimUserSchema   = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema  = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimPatchSchema  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimErrorSchema  = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// scimClient talks to the SCIM endpoint with one token.
type scimClient struct {
	base, token string
}

// do sends a SCIM request (body a JSON-marshalled value, or a string sent as is) and
// returns the status, the decoded body and the headers.
func (c scimClient) do(t *testing.T, method, path string, body any, header ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/scim+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// want checks a status and returns the body.
func (c scimClient) want(t *testing.T, status int, method, path string, body any, header ...string) map[string]any {
	t.Helper()
	got, out, _ := c.do(t, method, path, body, header...)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, out)
	}
	return out
}

// wantError checks a SCIM error response (RFC 7644 §3.12).
func (c scimClient) wantError(t *testing.T, status int, scimType, method, path string, body any, header ...string) {
	t.Helper()
	out := c.want(t, status, method, path, body, header...)
	schemas, _ := out["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != scimErrorSchema || out["status"] != fmt.Sprint(status) || (scimType != "" && out["scimType"] != scimType) {
		t.Fatalf("%s %s: error body %v, want status %d scimType %q", method, path, out, status, scimType)
	}
}

func patchOp(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []any{scimPatchSchema}, "Operations": ops}
}

// newScimToken creates a SCIM token as the Admin whose key is given.
func (s *stack) newScimToken(t *testing.T, adminKey string, in map[string]any) (id, secret string) {
	t.Helper()
	r := s.ok(t, adminKey, mCreateScimToken, map[string]any{"in": in})["createScimToken"].(map[string]any)
	return r["id"].(string), r["secret"].(string)
}

// testSCIM drives the SCIM endpoint the way Entra ID's provisioning service does: it looks a
// user up by userName, creates them, patches attributes, patches active to false (their API
// key is refused within seconds), and deletes them (an erasure is requested); group
// membership changes give and take the roles the identity provider's mapping names; filter,
// pagination and ETags; bad tokens, another organisation's token and malformed requests are
// refused in the SCIM error format and change nothing; every call is recorded with the
// token's id.
func testSCIM(t *testing.T, s *stack) {
	ctx := context.Background()
	srv := httptest.NewServer(s.p.SCIMHandler())
	defer srv.Close()
	base := srv.URL + "/scim/v2"

	o := s.newOrg(t, testSettings())
	sp := s.space(t, o.adminKey)
	i := newIDP(t)
	const audience = "api://arkiv-scim"
	now := s.clock.Now()
	proof := i.token(t, map[string]any{"iss": i.srv.URL, "aud": audience, "sub": o.adminID, "iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix()})
	s.ok(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": proof, "displayName": "Entra ID", "groupRoles": []any{
			map[string]any{"group": "0f6d1c53-creators", "orgRole": "CREATOR"},
			map[string]any{"group": "Readers", "spaceId": sp, "spaceRole": "VIEWER"}}}})

	// Tokens: Admins only, listed without secrets.
	_, ukey := s.user(t, o, "USER")
	if r := s.do(t, ukey, mCreateScimToken, map[string]any{"in": map[string]any{"name": "x"}}); r.code() != "FORBIDDEN" {
		t.Fatalf("createScimToken as a User: %+v", r.Errors)
	}
	tokID, secret := s.newScimToken(t, o.adminKey, map[string]any{"name": "Entra", "identityProviderIssuer": i.srv.URL,
		"identityProviderAudience": audience})
	list := s.ok(t, o.adminKey, `{ scimTokens { id name prefix identityProviderIssuer createdBy revokedAt } }`, nil)["scimTokens"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != tokID || list[0].(map[string]any)["createdBy"] != o.adminID ||
		!strings.HasPrefix(secret, list[0].(map[string]any)["prefix"].(string)) {
		t.Fatalf("scimTokens = %v", list)
	}
	if r := s.do(t, ukey, `{ scimTokens { id } }`, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("scimTokens as a User: %+v", r.Errors)
	}
	c := scimClient{base: base, token: secret}

	// Bad tokens: 401 in the SCIM error format.
	for name, tok := range map[string]string{"none": "", "garbage": "not-a-token", "an API key": o.adminKey,
		"forged": secret[:len(secret)-4] + "AAAA"} {
		t.Run("token "+name, func(t *testing.T) {
			scimClient{base: base, token: tok}.wantError(t, http.StatusUnauthorized, "", "GET", "/Users", nil)
		})
	}
	// Discovery answers.
	for _, p := range []string{"/ServiceProviderConfig", "/Schemas", "/ResourceTypes"} {
		if out := c.want(t, http.StatusOK, "GET", p, nil); out["schemas"] == nil {
			t.Fatalf("%s = %v", p, out)
		}
	}

	// Entra's sequence: look up, create, patch attributes, patch active:false, delete.
	const upn = "Ada.Lovelace@example.org"
	filter := "/Users?filter=" + strings.ReplaceAll(`userName eq "`+upn+`"`, " ", "%20")
	if out := c.want(t, http.StatusOK, "GET", filter, nil); out["totalResults"] != float64(0) {
		t.Fatalf("lookup before create = %v", out)
	}
	_, created, hdr := c.do(t, "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "externalId": "ada-oid",
		"userName": upn, "active": true, "displayName": "Ada Lovelace",
		"emails": []any{map[string]any{"primary": true, "type": "work", "value": upn}},
		"name":   map[string]any{"givenName": "Ada", "familyName": "Lovelace"}})
	uid, _ := created["id"].(string)
	if uid == "" || created["userName"] != upn || created["active"] != true || hdr.Get("ETag") != `W/"1"` ||
		created["meta"].(map[string]any)["version"] != `W/"1"` {
		t.Fatalf("created = %v (ETag %q)", created, hdr.Get("ETag"))
	}
	c.wantError(t, http.StatusConflict, "uniqueness", "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "userName": strings.ToLower(upn)})
	if got := c.want(t, http.StatusOK, "GET", "/Users/"+uid, nil); got["displayName"] != "Ada Lovelace" || got["externalId"] != "ada-oid" {
		t.Fatalf("GET = %v", got)
	}
	if out := c.want(t, http.StatusOK, "GET", strings.ReplaceAll(filter, "Ada.Lovelace", "ada.lovelace"), nil); out["totalResults"] != float64(1) {
		t.Fatalf("lookup after create (case-insensitive) = %v", out)
	}
	patched := c.want(t, http.StatusOK, "PATCH", "/Users/"+uid, patchOp(
		map[string]any{"op": "Replace", "path": "displayName", "value": "Ada King"},
		map[string]any{"op": "Add", "path": "title", "value": "Countess"}), "If-Match", `W/"1"`)
	if patched["displayName"] != "Ada King" || patched["meta"].(map[string]any)["version"] != `W/"2"` {
		t.Fatalf("patched = %v", patched)
	}
	// A stale ETag changes nothing.
	c.wantError(t, http.StatusPreconditionFailed, "", "PATCH", "/Users/"+uid, patchOp(
		map[string]any{"op": "replace", "path": "displayName", "value": "Stale"}), "If-Match", `W/"1"`)
	// Malformed JSON and PatchOps are refused and change nothing.
	c.wantError(t, http.StatusBadRequest, "invalidSyntax", "PATCH", "/Users/"+uid, `{"schemas": [`)
	c.wantError(t, http.StatusBadRequest, "invalidSyntax", "PATCH", "/Users/"+uid, map[string]any{"Operations": []any{
		map[string]any{"op": "replace", "path": "active", "value": false}}})
	c.wantError(t, http.StatusBadRequest, "invalidSyntax", "PATCH", "/Users/"+uid, patchOp(map[string]any{"op": "frobnicate", "path": "active", "value": false}))
	c.wantError(t, http.StatusBadRequest, "invalidValue", "PATCH", "/Users/"+uid, patchOp(map[string]any{"op": "replace", "path": "active", "value": 42}))
	c.wantError(t, http.StatusBadRequest, "invalidSyntax", "POST", "/Users", `[1, 2]`)
	c.wantError(t, http.StatusBadRequest, "invalidValue", "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "userName": 7})
	if got := c.want(t, http.StatusOK, "GET", "/Users/"+uid, nil); got["displayName"] != "Ada King" || got["active"] != true ||
		got["meta"].(map[string]any)["version"] != `W/"2"` {
		t.Fatalf("after refused requests = %v", got)
	}
	if out := c.want(t, http.StatusOK, "GET", "/Users", nil); out["totalResults"] != float64(1) {
		t.Fatalf("users after refused requests = %v", out)
	}

	// The provisioned user works: an API key of theirs reads.
	s.waitFor(t, func() bool { _, active, _ := s.p.Reads.OrgRole(ctx, o.id, uid); return active })
	k := s.ok(t, o.adminKey, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret position } }`,
		map[string]any{"in": map[string]any{"userId": uid}})["createApiKey"].(map[string]any)
	s.wait(t, k["position"].(string))
	adaKey := k["secret"].(string)
	s.ok(t, adaKey, `{ me { id } }`, nil)

	// Cross-tenant: another organisation's token sees and touches nothing of this one.
	b := s.newOrg(t, testSettings())
	_, bSecret := s.newScimToken(t, b.adminKey, map[string]any{"name": "B"})
	cb := scimClient{base: base, token: bSecret}
	cb.wantError(t, http.StatusNotFound, "", "GET", "/Users/"+uid, nil)
	cb.wantError(t, http.StatusNotFound, "", "PATCH", "/Users/"+uid, patchOp(map[string]any{"op": "replace", "path": "active", "value": false}))
	cb.wantError(t, http.StatusNotFound, "", "DELETE", "/Users/"+uid, nil)
	cb.wantError(t, http.StatusNotFound, "", "PUT", "/Users/"+uid, map[string]any{"schemas": []any{scimUserSchema}, "userName": upn, "active": false})
	if out := cb.want(t, http.StatusOK, "GET", filter, nil); out["totalResults"] != float64(0) {
		t.Fatalf("B's lookup of A's user = %v", out)
	}
	// B may have a user of the same userName: it is another organisation's person.
	bUser := cb.want(t, http.StatusCreated, "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "userName": upn})
	if bUser["id"] == uid {
		t.Fatal("B's user has A's id")
	}
	cb.wantError(t, http.StatusBadRequest, "invalidValue", "POST", "/Groups", map[string]any{"schemas": []any{scimGroupSchema},
		"displayName": "Steal", "members": []any{map[string]any{"value": uid}}})
	s.ok(t, adaKey, `{ me { id } }`, nil)

	// Groups drive the identity provider's mapping.
	_, bob, _ := c.do(t, "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "userName": "bob@example.org", "displayName": "Bob"})
	bobID := bob["id"].(string)
	creators := c.want(t, http.StatusCreated, "POST", "/Groups", map[string]any{"schemas": []any{scimGroupSchema},
		"displayName": "Creators", "externalId": "0f6d1c53-creators", "members": []any{}})
	gid := creators["id"].(string)
	role := func(u string) domain.OrgRole { r, _, _ := s.p.Reads.OrgRole(ctx, o.id, u); return r }
	spaceRole := func(u string) domain.SpaceRole { r, _ := s.p.Reads.SpaceRole(ctx, o.id, sp, u); return r }
	c.want(t, http.StatusOK, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Add", "path": "members",
		"value": []any{map[string]any{"value": bobID}}}))
	s.waitFor(t, func() bool { return role(bobID) == domain.OrgRoleCreator })
	readers := c.want(t, http.StatusCreated, "POST", "/Groups", map[string]any{"schemas": []any{scimGroupSchema},
		"displayName": "Readers", "members": []any{map[string]any{"value": bobID}}})
	s.waitFor(t, func() bool { return spaceRole(bobID) == domain.SpaceRoleViewer })
	// A member the directory does not have is refused, and changes nothing.
	c.wantError(t, http.StatusBadRequest, "invalidValue", "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members",
		"value": []any{map[string]any{"value": bUser["id"]}}}))
	if g := c.want(t, http.StatusOK, "GET", "/Groups/"+gid, nil); len(g["members"].([]any)) != 1 {
		t.Fatalf("group after a refused add = %v", g)
	}
	c.want(t, http.StatusOK, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Remove", "path": `members[value eq "` + bobID + `"]`}))
	s.waitFor(t, func() bool { return role(bobID) == domain.OrgRoleUser })
	c.want(t, http.StatusNoContent, "DELETE", "/Groups/"+readers["id"].(string), nil)
	s.waitFor(t, func() bool { return spaceRole(bobID) == domain.SpaceRoleNone })
	// The role changes are ordinary events whose reason names the token.
	recs, _, err := s.p.Store.Load(ctx, domain.StreamPrefixUser+bobID)
	if err != nil {
		t.Fatal(err)
	}
	var md domain.Metadata
	if err := json.Unmarshal(recs[len(recs)-1].Metadata, &md); err != nil || recs[len(recs)-1].Type != "user.role_changed.v1" ||
		!strings.Contains(md.Reason, tokID) || md.Actor != domain.SystemActor {
		t.Fatalf("last event of Bob %s, metadata %+v (%v)", recs[len(recs)-1].Type, md, err)
	}

	// The audit log names the token as the reason of the directory's changes.
	s.waitFor(t, func() bool {
		var n int
		err := s.p.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE organization_id = $1 AND starts_with(reason_code, $2)
			AND action IN ('user.registered.v1', 'user.role_changed.v1', 'space.member_added.v1', 'space.member_removed.v1')`,
			o.id, "SCIM token "+tokID).Scan(&n)
		return err == nil && n >= 6
	})

	// PUT replaces the attributes; without active it leaves it.
	if put := c.want(t, http.StatusOK, "PUT", "/Users/"+bobID, map[string]any{"schemas": []any{scimUserSchema},
		"userName": "bob@example.org", "displayName": "Robert"}, "If-Match", `W/"1"`); put["displayName"] != "Robert" || put["active"] != true {
		t.Fatalf("PUT = %v", put)
	}

	// Pagination and filters.
	c.want(t, http.StatusCreated, "POST", "/Users", map[string]any{"schemas": []any{scimUserSchema}, "userName": "carol@example.org"})
	pg := c.want(t, http.StatusOK, "GET", "/Users?startIndex=2&count=1", nil)
	if pg["totalResults"] != float64(3) || pg["itemsPerPage"] != float64(1) || pg["startIndex"] != float64(2) ||
		pg["Resources"].([]any)[0].(map[string]any)["id"] != bobID {
		t.Fatalf("page = %v", pg)
	}
	if pg := c.want(t, http.StatusOK, "GET", "/Users?startIndex=3&count=10", nil); len(pg["Resources"].([]any)) != 1 {
		t.Fatalf("last page = %v", pg)
	}
	c.wantError(t, http.StatusBadRequest, "invalidFilter", "GET", "/Users?filter=title%20co%20%22x%22", nil)
	if g := c.want(t, http.StatusOK, "GET", "/Groups?filter=displayName%20eq%20%22Creators%22", nil); g["totalResults"] != float64(1) {
		t.Fatalf("group filter = %v", g)
	}

	// active:false (as a string, as Entra sent it for years) locks the user out within seconds.
	start := time.Now()
	if out := c.want(t, http.StatusOK, "PATCH", "/Users/"+uid, patchOp(map[string]any{"op": "Replace", "path": "active", "value": "False"})); out["active"] != false {
		t.Fatalf("deactivated = %v", out)
	}
	s.waitFor(t, func() bool { return s.do(t, adaKey, `{ me { id } }`, nil).code() == "UNAUTHENTICATED" })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("locked out after %v", d)
	}
	// Delete: gone from SCIM, erasure requested (the user is hidden).
	c.want(t, http.StatusNoContent, "DELETE", "/Users/"+uid, nil)
	c.wantError(t, http.StatusNotFound, "", "GET", "/Users/"+uid, nil)
	s.waitFor(t, func() bool { u, _ := s.p.Reads.User(ctx, o.id, uid); return u != nil && u.Erased })

	// Every call is recorded with the token's id.
	calls, failed := 0, 0
	for _, e := range s.accessLog(t, o.id) {
		if c, ok := e.(domain.ScimCallRecorded); ok && c.TokenID == tokID {
			calls++
			if c.Status >= 400 {
				failed++
			}
		}
	}
	if calls < 30 || failed < 8 {
		t.Fatalf("access log: %d SCIM calls of the token, %d refused", calls, failed)
	}
	// A revoked token is refused.
	s.ok(t, o.adminKey, `mutation($id: ID!) { revokeScimToken(id: $id) { id position } }`, map[string]any{"id": tokID})
	c.wantError(t, http.StatusUnauthorized, "", "GET", "/Users", nil)
}
