package graphql_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestTenantSecurity runs the attacks of issue 13 items 2, 3 and 6 against one platform:
// identity-provider squatting, the operator's model key sent where an Admin points, and a
// Space Admin locking the organisation's Admin out of a space.
func TestTenantSecurity(t *testing.T) {
	s := startStack(t, stackOptions{})
	t.Run("org Admins keep oversight of every space", func(t *testing.T) { testOrgAdminOversight(t, s) })
	t.Run("the operator's model key never goes where an Admin points", func(t *testing.T) { testModelCatalog(t, s) })
	t.Run("e-mail addresses are unique within an organisation", func(t *testing.T) { testUniqueEmail(t, s) })
}

const (
	mChangeSpaceRole   = `mutation($in: ChangeSpaceRoleInput!) { changeSpaceRole(input: $in) { id position } }`
	mRemoveSpaceMember = `mutation($in: RemoveSpaceMemberInput!) { removeSpaceMember(input: $in) { id position } }`
)

// testOrgAdminOversight: a Space Admin who is an organisation User cannot demote or remove
// the organisation's Admin from a space (refused and audited); the organisation's Admin
// manages membership of any space of the organisation, member or not, themselves included.
func testOrgAdminOversight(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	_, ckey := s.user(t, o, "CREATOR")
	uid, ukey := s.user(t, o, "USER")
	sp := s.space(t, ckey) // the org Admin is not a member
	// The Admin, not a member, adds a Space Admin and themselves.
	s.addMember(t, o.adminKey, sp, uid, "ADMIN")
	s.addMember(t, o.adminKey, sp, o.adminID, "VIEWER")
	// The Space Admin who is an organisation User cannot touch the org Admin's access.
	for _, c := range []struct{ q, what string }{
		{mChangeSpaceRole, "demote"}, {mRemoveSpaceMember, "remove"},
	} {
		in := map[string]any{"spaceId": sp, "userId": o.adminID}
		if c.q == mChangeSpaceRole {
			in["role"] = "EDITOR"
		}
		if r := s.do(t, ukey, c.q, map[string]any{"in": in}); r.code() != "FORBIDDEN" {
			t.Fatalf("a Space Admin could %s the org Admin: %+v", c.what, r)
		}
	}
	// The org Admin makes themselves a Space Admin (as a Viewer) and stays one.
	s.mutate(t, o.adminKey, mChangeSpaceRole, map[string]any{"in": map[string]any{"spaceId": sp, "userId": o.adminID, "role": "ADMIN"}})
	if r := s.do(t, ukey, mChangeSpaceRole, map[string]any{"in": map[string]any{"spaceId": sp, "userId": o.adminID, "role": "VIEWER"}}); r.code() != "FORBIDDEN" {
		t.Fatalf("a Space Admin demoted the org Admin: %+v", r)
	}
	got := s.ok(t, o.adminKey, `query($id: ID!) { space(id: $id) { members { id role } } }`, map[string]any{"id": sp})
	role := ""
	for _, m := range got["space"].(map[string]any)["members"].([]any) {
		if m := m.(map[string]any); m["id"] == o.adminID {
			role = m["role"].(string)
		}
	}
	if role != "ADMIN" {
		t.Fatalf("the org Admin's role in the space is %q", role)
	}
	// Space Admins still manage each other: the org Admin removes the User, then re-adds them.
	s.mutate(t, o.adminKey, mRemoveSpaceMember, map[string]any{"in": map[string]any{"spaceId": sp, "userId": uid}})
	s.addMember(t, o.adminKey, sp, uid, "VIEWER")
	// The refusals are in the audit log (projected asynchronously: poll).
	n := 0
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		audit := s.ok(t, o.adminKey, `query($f: AuditFilter) { auditLog(filter: $f, justification: "Reviewing refused membership changes.") { edges { node { action actorId outcome } } } }`,
			map[string]any{"f": map[string]any{"actorId": uid, "outcome": "DENIED"}})
		if n = len(audit["auditLog"].(map[string]any)["edges"].([]any)); n >= 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("audited denials of the Space Admin: %d, want 3", n)
	}
}

// keyServer is an OpenAI-compatible endpoint that records the Authorization header of
// every request and answers with a fixed reply.
type keyServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newKeyServer(t *testing.T) *keyServer {
	k := &keyServer{}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.auth = append(k.auth, r.Header.Get("Authorization"))
		k.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0,
			"message": map[string]any{"role": "assistant", "content": "An answer [1]."}}}})
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *keyServer) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.auth...)
}

// testModelCatalog: an Admin can allow-list only entries of the operator's catalogue, by
// id; an endpoint or region of the Admin's own is refused; the key sent is the one the
// entry's keyEnv names, to the catalogue's endpoint; settings naming an endpoint outside
// the catalogue are refused at call time without any request; unreachable endpoints fail
// with one message whatever the cause.
func testModelCatalog(t *testing.T, s *stack) {
	honest, evil := newKeyServer(t), newKeyServer(t)
	// A TCP service that is not HTTP, and a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "SSH-2.0-OpenSSH_9.6\r\n")
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/v1"
	closed.Close()
	env := map[string]string{"ARKIV_TEST_CATALOG_KEY": "sk-operator-secret"}
	s.addModels(t, func(k string) string { return env[k] },
		domain.CatalogEntry{ID: "cat-eu", Endpoint: honest.srv.URL + "/v1", Region: domain.RegionEU, KeyEnv: "ARKIV_TEST_CATALOG_KEY"},
		domain.CatalogEntry{ID: "cat-us", Endpoint: honest.srv.URL + "/us/v1", Region: domain.RegionUS, KeyEnv: "ARKIV_TEST_CATALOG_KEY"},
		domain.CatalogEntry{ID: "cat-ssh", Endpoint: "http://" + ln.Addr().String() + "/v1", Region: domain.RegionEU},
		domain.CatalogEntry{ID: "cat-closed", Endpoint: closedURL, Region: domain.RegionEU})

	// Settings bootstrapped before the catalogue (the operator's path) name the evil host.
	settings := testSettings()
	settings.Models = append(settings.Models, domain.AllowedModel{ID: "stale-model", Endpoint: evil.srv.URL + "/v1",
		Region: domain.RegionEU, MaxClassification: domain.ClassRestricted})
	o := s.newOrg(t, settings)
	_, ukey := s.user(t, o, "USER")
	uid := s.ok(t, ukey, `{ me { id } }`, nil)["me"].(map[string]any)["id"].(string)
	newSpace := func(models ...any) string {
		sp := s.space(t, o.adminKey)
		s.addMember(t, o.adminKey, sp, uid, "VIEWER")
		s.mutate(t, o.adminKey, mEnableModels, map[string]any{"in": map[string]any{"spaceId": sp, "modelIds": models}})
		s.mutate(t, o.adminKey, mIngest, map[string]any{"in": map[string]any{"spaceId": sp, "title": "Notes",
			"content": "The committee meets on Tuesdays in the large hall to review the budget."}})
		return sp
	}
	ask := func(sp, model string) response {
		asst := s.mutate(t, o.adminKey, mCreateAsst, map[string]any{"in": map[string]any{"spaceId": sp, "name": model,
			"instructions": "Answer.", "modelId": model}})
		conv := s.mutate(t, ukey, mStartConv, map[string]any{"in": map[string]any{"assistantId": asst}})
		return s.do(t, ukey, mSend, map[string]any{"in": map[string]any{"conversationId": conv, "text": "When does the committee meet?"}})
	}
	// The stale setting: refused at call time with a clear error; nothing reaches the host.
	if r := ask(newSpace("stale-model"), "stale-model"); r.code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "catalogue") {
		t.Fatalf("a model outside the catalogue: %+v", r.Errors)
	}
	const mSettings = `mutation($in: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $in) { id position } }`
	withModels := func(models ...map[string]any) map[string]any {
		in := settingsInput(false)
		ms := in["models"].([]any)
		for _, m := range models {
			m["maxClassification"] = "RESTRICTED"
			ms = append(ms, m)
		}
		in["models"] = ms
		return map[string]any{"in": in}
	}
	for name, m := range map[string]map[string]any{
		"an endpoint of the Admin's own":     {"id": "evil-model", "endpoint": evil.srv.URL + "/v1", "region": "EU"},
		"a catalogue id at the Admin's host": {"id": "cat-eu", "endpoint": evil.srv.URL + "/v1", "region": "EU"},
		"a US entry claimed to be EU":        {"id": "cat-us", "endpoint": honest.srv.URL + "/us/v1", "region": "EU"},
		"a US entry in an EU-only org":       {"id": "cat-us", "endpoint": honest.srv.URL + "/us/v1", "region": "US"},
	} {
		if r := s.do(t, o.adminKey, mSettings, withModels(m)); r.code() != "INVALID" {
			t.Errorf("%s: code %q %v", name, r.code(), r.Errors)
		}
	}
	s.mutate(t, o.adminKey, mSettings, withModels(
		map[string]any{"id": "cat-eu", "endpoint": honest.srv.URL + "/v1", "region": "EU"},
		map[string]any{"id": "cat-ssh", "endpoint": "http://" + ln.Addr().String() + "/v1", "region": "EU"},
		map[string]any{"id": "cat-closed", "endpoint": closedURL, "region": "EU"}))
	sp := newSpace("cat-eu", "cat-ssh", "cat-closed")
	if r := ask(sp, "cat-eu"); len(r.Errors) > 0 {
		t.Fatalf("catalogue model: %v", r.Errors)
	}
	if got := honest.seen(); len(got) != 1 || got[0] != "Bearer sk-operator-secret" {
		t.Fatalf("the catalogue endpoint got Authorization %q, want the keyEnv's key", got)
	}
	// Unreachable endpoints: one message, whatever the cause.
	rs, rc := ask(sp, "cat-ssh"), ask(sp, "cat-closed")
	if rs.code() != "UNAVAILABLE" || rc.code() != "UNAVAILABLE" || rs.Errors[0].Message != rc.Errors[0].Message ||
		strings.Contains(rs.Errors[0].Message, "HTTP") || strings.Contains(rc.Errors[0].Message, "unreachable") {
		t.Fatalf("non-HTTP host: %v; closed port: %v", rs.Errors, rc.Errors)
	}
	if len(evil.seen()) != 0 {
		t.Fatalf("the Admin's host was called: %q", evil.seen())
	}
}

// testUniqueEmail: a second user with an address already taken in the organisation —
// differently cased or spaced — is refused (an OIDC identity matched by e-mail must find
// one user); another organisation may use the address.
func testUniqueEmail(t *testing.T, s *stack) {
	o, other := s.newOrg(t, testSettings()), s.newOrg(t, testSettings())
	const mInvite = `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`
	invite := func(key, email string) response {
		return s.do(t, key, mInvite, map[string]any{"in": map[string]any{"email": email, "name": "Grace", "role": "USER"}})
	}
	if r := invite(o.adminKey, "grace.hopper@example.org"); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	for _, dup := range []string{"grace.hopper@example.org", "Grace.Hopper@Example.ORG", " grace.hopper@example.org "} {
		if r := invite(o.adminKey, dup); r.code() != "CONFLICT" {
			t.Errorf("second user %q: %+v", dup, r)
		}
	}
	if r := invite(other.adminKey, "grace.hopper@example.org"); len(r.Errors) > 0 {
		t.Fatalf("another organisation: %v", r.Errors)
	}
	// The bootstrapped Admin's address is reserved too.
	email := s.ok(t, o.adminKey, `{ me { email } }`, nil)["me"].(map[string]any)["email"].(string)
	if r := invite(o.adminKey, email); r.code() != "CONFLICT" {
		t.Errorf("the Admin's address: %+v", r)
	}
}
