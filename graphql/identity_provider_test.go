package graphql_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/arkiv/arkiv/infra/llm"
)

// settingsInput is testSettings as updateOrganizationSettings input, with MFA as given.
func settingsInput(mfa bool) map[string]any {
	return map[string]any{"models": []any{map[string]any{"id": "test-model", "endpoint": llm.OfflineEndpoint,
		"region": "EU", "maxClassification": "RESTRICTED"}}, "classificationLevels": []any{"PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"},
		"defaultMessageRetentionDays": 365, "auditRetention": map[string]any{"mode": "DAYS_90", "days": 90}, "erasureGraceDays": 14,
		"sessionIdleTimeoutMinutes": 30, "password": map[string]any{"minLength": 10, "requireUpper": false, "requireDigit": false,
			"requireSymbol": false, "maxAgeDays": 0, "historyEntries": 0}, "mfaRequired": mfa, "euOnly": true}
}

// testIdentityProviders: an Admin configures a loopback identity provider through the API;
// its access tokens then authenticate the organisation's users, without MFA until the
// organisation requires it and then only with an amr that shows it. A User may neither
// configure providers nor list them. Another organisation configuring the same issuer and
// audience is refused, and tokens keep routing to the first; once the first removes the
// provider its tokens no longer authenticate there, and the other organisation may
// configure the pair.
func testIdentityProviders(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	i := newIDP(t)
	const audience = "api://arkiv-e2e"
	now := s.clock.Now()
	token := func(sub string, amr ...string) string {
		return i.token(t, map[string]any{"iss": i.srv.URL, "aud": audience, "sub": sub, "iat": now.Unix(),
			"exp": now.Add(10 * time.Minute).Unix(), "amr": amr})
	}
	me := func(tok string) (string, response) {
		r := s.do(t, tok, `{ me { id } }`, nil)
		if m, _ := r.Data["me"].(map[string]any); m != nil {
			return m["id"].(string), r
		}
		return "", r
	}
	refused := func(what, tok string) {
		t.Helper()
		if id, r := me(tok); id != "" || r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
			t.Fatalf("%s: me %q, status %d, code %q", what, id, r.Status, r.code())
		}
	}
	const qProviders = `query($at: String) { organization(consistentAt: $at) { id identityProviders { issuer audience allowedAmr acceptedAcr active } } }`
	providers := func(key, at string) []any {
		t.Helper()
		return s.ok(t, key, qProviders, map[string]any{"at": at})["organization"].(map[string]any)["identityProviders"].([]any)
	}

	proof := func(sub string) string {
		return i.token(t, map[string]any{"iss": i.srv.URL, "aud": audience, "sub": sub, "iat": now.Unix(),
			"exp": now.Add(10 * time.Minute).Unix()})
	}
	refused("before the provider is configured", token(uid, "pwd"))
	if r := s.do(t, ukey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience}}); r.code() != "FORBIDDEN" {
		t.Fatalf("configureIdentityProvider as a User: %+v", r.Errors)
	}
	if r := s.do(t, ukey, qProviders, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("identityProviders as a User: %+v", r.Errors)
	}
	if r := s.do(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": "http://idp.example.org", "audience": audience}}); r.code() != "INVALID" {
		t.Fatalf("plain http issuer: %+v", r.Errors)
	}

	// Without proof of control, or with a token issued to someone else, the pair is refused.
	if r := s.do(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience}}); r.code() != "INVALID" {
		t.Fatalf("configuring without a proof: %+v", r.Errors)
	}
	if r := s.do(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": proof(uid)}}); r.code() != "FORBIDDEN" {
		t.Fatalf("configuring with a proof issued to a User: %+v", r.Errors)
	}
	res := s.ok(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"allowedAmr": []any{"mfa", "hwk"}, "proofToken": proof(o.adminID)}})["configureIdentityProvider"].(map[string]any)
	if res["id"] != o.id {
		t.Fatalf("configureIdentityProvider = %v", res)
	}
	ps := providers(o.adminKey, res["position"].(string))
	if len(ps) != 1 {
		t.Fatalf("identityProviders = %v", ps)
	}
	if p := ps[0].(map[string]any); p["issuer"] != i.srv.URL || p["audience"] != audience || p["active"] != true ||
		len(p["allowedAmr"].([]any)) != 2 || len(p["acceptedAcr"].([]any)) != 0 {
		t.Fatalf("provider = %v", p)
	}
	if id, r := me(token(uid, "pwd")); id != uid {
		t.Fatalf("token without MFA while the organisation does not require it: %q, %+v", id, r.Errors)
	}

	pos := s.ok(t, o.adminKey, `mutation($in: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $in) { id position } }`,
		map[string]any{"in": settingsInput(true)})["updateOrganizationSettings"].(map[string]any)["position"].(string)
	s.wait(t, pos)
	refused("token without MFA once the organisation requires it", token(uid, "pwd"))
	refused("token with an amr the provider does not list", token(uid, "pwd", "otp"))
	if id, r := me(token(uid, "pwd", "hwk")); id != uid {
		t.Fatalf("token with MFA: %q, %+v", id, r.Errors)
	}

	// Another organisation configuring the same pair is refused: an identity provider
	// belongs to one organisation, and A's people are never signed in to B.
	b := s.newOrg(t, testSettings())
	if r := s.do(t, b.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": proof(b.adminID)}}); r.code() != "CONFLICT" {
		t.Fatalf("B configuring A's pair: %+v", r)
	}
	if ps := providers(b.adminKey, ""); len(ps) != 0 {
		t.Fatalf("B's identityProviders = %v", ps)
	}
	if id, r := me(token(uid, "mfa")); id != uid {
		t.Fatalf("after B configured the pair, A's user: %q, %+v", id, r.Errors)
	}
	refused("B's Admin through a pair that routes to A", token(b.adminID, "mfa"))

	rm := s.ok(t, o.adminKey, mRemoveIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience}})["removeIdentityProvider"].(map[string]any)
	if ps := providers(o.adminKey, rm["position"].(string)); len(ps) != 0 {
		t.Fatalf("identityProviders after removal = %v", ps)
	}
	refused("token after the provider was removed", token(uid, "mfa"))
	if r := s.do(t, o.adminKey, mRemoveIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience}}); r.code() != "NOT_FOUND" {
		t.Fatalf("removing twice: %+v", r.Errors)
	}
	// Removed, the pair is released: B may configure it now.
	pb := s.ok(t, b.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": proof(b.adminID)}})["configureIdentityProvider"].(map[string]any)
	if ps := providers(b.adminKey, pb["position"].(string)); len(ps) != 1 || ps[0].(map[string]any)["active"] != true {
		t.Fatalf("B's identityProviders after A removed the pair = %v", ps)
	}
	if r := s.do(t, o.adminKey, mConfigureIdP, map[string]any{"in": map[string]any{"issuer": i.srv.URL, "audience": audience,
		"proofToken": proof(o.adminID)}}); r.code() != "CONFLICT" {
		t.Fatalf("A configuring the pair B now holds: %+v", r)
	}
	if id, r := me(token(b.adminID, "pwd")); id != b.adminID {
		t.Fatalf("B's Admin once the pair passed to B: %q, %+v", id, r.Errors)
	}
}
