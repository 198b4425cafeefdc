package graphql_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"github.com/arkiv/arkiv/infra/canarytest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
)

// testAPIKeyShownOnce: the secret comes back from createApiKey only; the key works until it
// is revoked and is refused from then on.
func testAPIKeyShownOnce(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, _ := s.user(t, o, "USER")
	data := s.ok(t, o.adminKey, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret prefix position } }`,
		map[string]any{"in": map[string]any{"userId": uid, "name": "ci"}})
	k := data["createApiKey"].(map[string]any)
	secret, keyID := k["secret"].(string), k["id"].(string)
	if !strings.HasPrefix(secret, "arkiv_") || !strings.HasPrefix(secret, k["prefix"].(string)) {
		t.Fatalf("secret %q, prefix %q", secret, k["prefix"])
	}
	s.wait(t, k["position"].(string))
	me := s.ok(t, secret, `{ me { id } }`, nil)
	if me["me"].(map[string]any)["id"] != uid {
		t.Fatalf("me = %v", me)
	}
	// Listing keys never shows the secret (nor any field containing it).
	list := s.do(t, o.adminKey, `{ apiKeys { edges { node { id prefix ownerId state } } } }`, nil)
	raw, _ := json.Marshal(list)
	if bytes.Contains(raw, []byte(secret)) || !bytes.Contains(raw, []byte(keyID)) {
		t.Fatalf("apiKeys: %s", raw)
	}
	pos := s.ok(t, o.adminKey, `mutation($id: ID!) { revokeApiKey(id: $id) { id position } }`, map[string]any{"id": keyID})
	s.wait(t, pos["revokeApiKey"].(map[string]any)["position"].(string))
	r := s.do(t, secret, `{ me { id } }`, nil)
	if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("revoked key: status %d code %q", r.Status, r.code())
	}
	list = s.do(t, o.adminKey, `{ apiKeys { edges { node { id state } } } }`, nil)
	for _, e := range list.Data["apiKeys"].(map[string]any)["edges"].([]any) {
		if n := e.(map[string]any)["node"].(map[string]any); n["id"] == keyID && n["state"] != "REVOKED" {
			t.Fatalf("revoked key listed as %v", n["state"])
		}
	}
}

// testErasure: an erased document, conversation (with its messages) and user disappear
// from every query at once.
func testErasure(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	sp := s.space(t, o.adminKey)
	s.addMember(t, o.adminKey, sp, uid, "EDITOR")
	s.mutate(t, o.adminKey, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "modelIds": []any{"test-model"}}})
	doc := s.mutate(t, o.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "title": "Salaries", "content": "The zebras are the director's secret salary topic. The salary of the director is discussed in closed session every spring."}})
	asst := s.mutate(t, o.adminKey, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": sp, "name": "Helper", "instructions": "Answer.", "modelId": "test-model"}})
	conv := s.mutate(t, ukey, `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"assistantId": asst}})
	sent := s.ok(t, ukey, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id position message { id text } reply { id text excerpts { documentId } } } }`,
		map[string]any{"in": map[string]any{"conversationId": conv, "text": "What about zebras?"}})["sendMessage"].(map[string]any)
	s.wait(t, sent["position"].(string))
	if !strings.Contains(sent["reply"].(map[string]any)["text"].(string), "zebras") {
		t.Errorf("reply did not use the document: %v", sent["reply"])
	}
	msgs := s.ok(t, ukey, `query($c: ID!) { conversation(id: $c) { messages { edges { node { id role text } } } } }`, map[string]any{"c": conv})
	if n := len(msgs["conversation"].(map[string]any)["messages"].(map[string]any)["edges"].([]any)); n != 2 {
		t.Fatalf("%d messages before erasure", n)
	}
	hits := s.ok(t, ukey, `query($s: ID!) { search(spaceId: $s, query: "zebras") { documentId text } }`, map[string]any{"s": sp})
	if len(hits["search"].([]any)) == 0 {
		t.Fatal("search finds nothing before erasure")
	}

	erase := func(kind, id string) {
		s.mutate(t, o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"subjectType": kind, "subjectId": id}})
	}
	erase("DOCUMENT", doc)
	r := s.ok(t, ukey, `query($s: ID!, $d: ID!) {
		documents(spaceId: $s) { edges { node { id } } }
		document(id: $d) { id content }
		search(spaceId: $s, query: "zebras salary director") { documentId }
	}`, map[string]any{"s": sp, "d": doc})
	raw, _ := json.Marshal(r)
	if bytes.Contains(raw, []byte(doc)) {
		t.Errorf("erased document still visible: %s", raw)
	}

	erase("CONVERSATION", conv)
	r = s.ok(t, ukey, `query($c: ID!) { conversation(id: $c) { id messages { edges { node { id text } } } } }`, map[string]any{"c": conv})
	if r["conversation"] != nil {
		if raw, _ := json.Marshal(r); bytes.Contains(raw, []byte("zebras")) {
			t.Errorf("erased conversation's messages still visible: %s", raw)
		}
	}

	erase("USER", uid)
	r = s.ok(t, o.adminKey, `query($s: ID!, $u: ID!) {
		space(id: $s) { members { id user { id } } }
		whoCanAccess(spaceId: $s) { userId }
		accessOf(userId: $u) { spaceId }
	}`, map[string]any{"s": sp, "u": uid})
	if raw, _ := json.Marshal(r); bytes.Contains(raw, []byte(uid)) {
		t.Errorf("erased user still visible: %s", raw)
	}
}

// idp is an OIDC identity provider on loopback: discovery and JWKS.
type idp struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey
}

func newIDP(t *testing.T) *idp {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i := &idp{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": i.srv.URL, "jwks_uri": i.srv.URL + "/jwks",
			"authorization_endpoint": i.srv.URL + "/authorize", "token_endpoint": i.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

func (i *idp) token(t *testing.T, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: i.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	sig, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testOIDC: an organisation that requires MFA accepts an OIDC access token whose amr shows
// a second factor and refuses one that does not.
func testOIDC(t *testing.T, s *stack) {
	settings := testSettings()
	settings.MFARequired = true
	o := s.newOrg(t, settings)
	uid, _ := s.user(t, o, "USER")
	i := newIDP(t)
	const audience = "arkiv-api"
	now := s.clock.Now()
	s.mutate(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": i.token(t, map[string]any{"iss": i.srv.URL, "aud": audience, "sub": o.adminID, "iat": now.Unix(),
			"exp": now.Add(10 * time.Minute).Unix()})}})
	claims := func(amr ...string) map[string]any {
		return map[string]any{"iss": i.srv.URL, "aud": audience, "sub": uid, "iat": now.Unix(),
			"exp": now.Add(10 * time.Minute).Unix(), "amr": amr}
	}
	me := s.ok(t, i.token(t, claims("pwd", "mfa")), `{ me { id } }`, nil)
	if me["me"].(map[string]any)["id"] != uid {
		t.Fatalf("me = %v", me)
	}
	r := s.do(t, i.token(t, claims("pwd")), `{ me { id } }`, nil)
	if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("token without MFA: status %d code %q", r.Status, r.code())
	}
	other := claims("mfa")
	other["aud"] = "someone-else"
	if r := s.do(t, i.token(t, other), `{ me { id } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("token for another audience: code %q", r.code())
	}
}

// testSession: a local login returns a session token that works until the organisation's
// idle timeout passes without use; logout ends it at once; a wrong password is refused.
func testSession(t *testing.T, s *stack) {
	settings := testSettings()
	settings.SessionIdleTimeoutMinutes = domain.MinSessionIdleMinutes
	o := s.newOrg(t, settings)
	uid, ukey := s.user(t, o, "USER")
	login := "user-" + uuid.NewString()[:8]
	s.ok(t, ukey, `mutation($in: SetPasswordInput!) { setPassword(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"login": login, "password": "correct horse battery"}})
	const mLogin = `mutation($in: LoginInput!) { login(input: $in) { id token idleTimeoutSeconds } }`
	bad := s.do(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": "wrong password!"}})
	if bad.code() != "UNAUTHENTICATED" {
		t.Fatalf("wrong password: %q", bad.code())
	}
	l := s.ok(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": "correct horse battery"}})["login"].(map[string]any)
	token := l["token"].(string)
	canarytest.Record(t, "correct horse battery", "wrong password!", token)
	if l["id"] != uid || l["idleTimeoutSeconds"].(float64) != 300 {
		t.Fatalf("login = %v", l)
	}
	if me := s.ok(t, token, `{ me { id } }`, nil); me["me"].(map[string]any)["id"] != uid {
		t.Fatalf("me = %v", me)
	}
	s.clock.Advance(4 * time.Minute)
	s.ok(t, token, `{ me { id } }`, nil) // within the idle timeout
	s.clock.Advance(6 * time.Minute)
	if r := s.do(t, token, `{ me { id } }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
		t.Fatalf("idle session: status %d code %q", r.Status, r.code())
	}
	l = s.ok(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": "correct horse battery"}})["login"].(map[string]any)
	token = l["token"].(string)
	s.ok(t, token, `mutation { logout { id } }`, nil)
	if r := s.do(t, token, `{ me { id } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("after logout: %q", r.code())
	}
	// An open socket alone is no use of the session: its periodic re-check does not keep
	// the session alive, so the socket ends (4403) once the idle timeout has passed since the
	// last operation, though it was re-checked every few seconds in between.
	l = s.ok(t, "", mLogin, map[string]any{"in": map[string]any{"organizationId": o.id, "login": login, "password": "correct horse battery"}})["login"].(map[string]any)
	token = l["token"].(string)
	code := wsCloseCode(t, s, token, func() {
		time.Sleep(time.Second) // the subscribe (a use) is handled first
		for range 3 {
			s.clock.Advance(2 * time.Minute)
			time.Sleep(3 * time.Second) // a re-check or more on this side of each step
		}
	})
	if code != 4403 {
		t.Fatalf("a socket idle past the session's timeout: close code %d, want 4403", code)
	}
}

// testHardening: operations over the complexity limit and oversized requests are refused,
// introspection is off outside `arkiv dev`.
func testHardening(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 600; i++ {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", 1))
		b.WriteString(uuid.NewString()[:4])
		b.WriteString(": version")
	}
	b.WriteString(" }")
	if r := s.do(t, o.adminKey, b.String(), nil); r.code() == "" {
		t.Error("an operation over the complexity limit was executed")
	}
	huge := `{ version } #` + strings.Repeat("x", 2<<20)
	if r := s.do(t, o.adminKey, huge, nil); r.code() == "" {
		t.Error("a 2 MiB request was executed")
	}
	intro := s.do(t, o.adminKey, `{ __schema { types { name } } }`, nil)
	if s.dev != (intro.code() == "") {
		t.Errorf("introspection (dev %v): code %q", s.dev, intro.code())
	}
	if !s.dev {
		// Refused introspection is the caller's mistake, not a server error, however it is
		// spelled (a fragment, __type, anonymous).
		for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "Query") { name } }`,
			`query { ...F } fragment F on Query { __schema { queryType { name } } }`} {
			if r := s.do(t, "", q, nil); r.code() != "INVALID" {
				t.Errorf("introspection %q in serve: code %q %v", q, r.code(), r.Errors)
			}
		}
	}
	if r := s.do(t, o.adminKey, `{ nosuchfield }`, nil); r.code() != "INVALID" {
		t.Errorf("invalid query: code %q", r.code())
	}
	// "Did you mean" tells a stranger the schema's names: off in serve.
	for _, q := range []string{`{ spaec(id: "x") { id } }`, `{ space(idd: "x") { id } }`, `{ me { emial } }`} {
		r := s.do(t, o.adminKey, q, nil)
		raw, _ := json.Marshal(r.Errors)
		if r.code() != "INVALID" || !s.dev && bytes.Contains(raw, []byte("Did you mean")) {
			t.Errorf("%q (dev %v): code %q errors %s", q, s.dev, r.code(), raw)
		}
	}
	// A malformed Time and a NUL byte in a filter are the caller's mistake: INVALID, never
	// INTERNAL or UNAVAILABLE.
	const qAudit = `query($f: AuditFilter) { auditLog(filter: $f, justification: "probe") { edges { node { id } } } }`
	const qInv = `query($f: ModelInvocationFilter) { modelInvocations(filter: $f) { edges { node { id } } } }`
	for _, c := range []struct {
		q string
		v map[string]any
	}{
		{qAudit, map[string]any{"f": map[string]any{"from": "yesterday"}}},
		{qAudit, map[string]any{"f": map[string]any{"to": "2026-13-45T99:00:00Z"}}},
		{qInv, map[string]any{"f": map[string]any{"from": 12}}},
		{`{ auditLog(filter: {from: "not a time"}, justification: "probe") { edges { node { id } } } }`, nil},
		{qAudit, map[string]any{"f": map[string]any{"action": "space.\x00member_added.v1"}}},
		{qAudit, map[string]any{"f": map[string]any{"action": "a\x00"}}},
		{`{ auditLog(filter: {action: "a\u0000b"}, justification: "probe") { edges { node { id } } } }`, nil},
		{qAudit, map[string]any{"f": map[string]any{"targetId": "\x00"}}},
	} {
		if r := s.do(t, o.adminKey, c.q, c.v); r.code() != "INVALID" {
			t.Errorf("%s %v: code %q %v", c.q, c.v, r.code(), r.Errors)
		}
	}
	// A body that is not JSON is refused without echoing it back.
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(`{"query": "{ me { id } }", "password": "hunter2-secret" `))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte("hunter2")) || !bytes.Contains(body, []byte("INVALID")) {
		t.Errorf("malformed JSON: status %d body %s", resp.StatusCode, body)
	}
}
