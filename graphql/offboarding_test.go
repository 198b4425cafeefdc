package graphql_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
)

const (
	mSetPassword = `mutation($in: SetPasswordInput!) { setPassword(input: $in) { id } }`
	mLoginFull   = `mutation($in: LoginInput!) { login(input: $in) { id token passwordChangeRequired } }`
)

// loginAs logs in through the API and returns the login payload, or the response when it
// was refused.
func (s *stack) loginAs(t *testing.T, orgID, login, password string) (map[string]any, response) {
	t.Helper()
	r := s.do(t, "", mLoginFull, map[string]any{"in": map[string]any{"organizationId": orgID, "login": login, "password": password}})
	if len(r.Errors) > 0 {
		return nil, r
	}
	return r.Data["login"].(map[string]any), r
}

// localAccount gives the user whose API key is given a local login and password, and
// returns the login.
func (s *stack) localAccount(t *testing.T, key, password string) string {
	t.Helper()
	login := "user-" + uuid.NewString()[:8]
	s.ok(t, key, mSetPassword, map[string]any{"in": map[string]any{"login": login, "password": password}})
	return login
}

// testOffboarding reproduces the offboarding attack: before the fix a deactivated user's
// session kept reading spaces, documents and search, their password logged in anew, and
// an erased user's password opened an empty session. Now deactivation and erasure refuse
// every credential of theirs, the local account is gone, and setPassword is refused.
func testOffboarding(t *testing.T, s *stack) {
	ctx := context.Background()
	o := s.newOrg(t, testSettings())
	const pw = "correct horse battery"
	reads := `{ me { id } spaces { edges { node { id } } } }`

	for _, how := range []string{"deactivated", "erased"} {
		t.Run(how, func(t *testing.T) {
			uid, ukey := s.user(t, o, "USER")
			sp := s.space(t, o.adminKey)
			s.addMember(t, o.adminKey, sp, uid, "VIEWER")
			login := s.localAccount(t, ukey, pw)
			l, r := s.loginAs(t, o.id, login, pw)
			if l == nil {
				t.Fatalf("login: %+v", r.Errors)
			}
			token := l["token"].(string)
			s.ok(t, token, reads, nil)
			s.ok(t, ukey, reads, nil)

			if how == "deactivated" {
				s.mutate(t, o.adminKey, `mutation($in: DeactivateUserInput!) { deactivateUser(input: $in) { id position } }`,
					map[string]any{"in": map[string]any{"userId": uid}})
			} else {
				s.mutate(t, o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
					map[string]any{"in": map[string]any{"subjectType": "USER", "subjectId": uid}})
			}
			// Every credential is refused for every field, once the read models have the event.
			for name, cred := range map[string]string{"session": token, "API key": ukey} {
				for _, q := range []string{reads, `query($s: ID!) { space(id: $s) { id members { id } } }`,
					`query($s: ID!) { search(spaceId: $s, query: "anything") { documentId } }`} {
					r := s.do(t, cred, q, map[string]any{"s": sp})
					if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || r.Data != nil {
						t.Fatalf("%s of the %s user, %s: status %d code %q data %v", name, how, firstLine(q), r.Status, r.code(), r.Data)
					}
				}
				if r := s.do(t, cred, mSetPassword, map[string]any{"in": map[string]any{"login": login, "password": "another good password"}}); r.code() != "UNAUTHENTICATED" {
					t.Fatalf("setPassword with the %s of the %s user: %+v", name, how, r.Errors)
				}
			}
			// The old password opens no session, and nothing that could log in is kept.
			if l, r := s.loginAs(t, o.id, login, pw); l != nil || r.code() != "UNAUTHENTICATED" {
				t.Fatalf("old password of the %s user: %v %+v", how, l, r.Errors)
			}
			var creds, open int
			if err := s.p.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth_local_credentials WHERE user_id = $1),
				(SELECT count(*) FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL)`, uid).Scan(&creds, &open); err != nil {
				t.Fatal(err)
			}
			if creds != 0 || open != 0 {
				t.Fatalf("%s user keeps %d local credentials and %d open sessions", how, creds, open)
			}
		})
	}
}

// testDenialsAudited: a refusal by the schema's role directive is an access.denied.v1
// event, like a refusal inside a command (before the fix a User calling grantOrgRole on
// themselves, createApiKey for the Admin or auditLog left no trace); every set password,
// own or an Admin's reset, is a user.password_set.v1 event.
func testDenialsAudited(t *testing.T, s *stack) {
	ctx := context.Background()
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	attempts := map[string]struct {
		query string
		vars  map[string]any
	}{
		"Mutation.grantOrgRole": {`mutation($in: GrantOrgRoleInput!) { grantOrgRole(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"userId": uid, "role": "ADMIN"}}},
		"Mutation.createApiKey": {`mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret } }`,
			map[string]any{"in": map[string]any{"userId": o.adminID}}},
		"Query.auditLog": {`query { auditLog(justification: "I would like to see everything.") { edges { node { id } } } }`, nil},
	}
	for op, a := range attempts {
		if r := s.do(t, ukey, a.query, a.vars); r.code() != "FORBIDDEN" {
			t.Fatalf("%s as a User: %+v", op, r.Errors)
		}
	}
	evs := s.accessLog(t, o.id)
	for op := range attempts {
		found := false
		for _, e := range evs {
			if d, ok := e.(domain.AccessDenied); ok && d.Actor == uid && string(d.Command) == op && d.OrgRole == domain.OrgRoleUser {
				found = true
			}
		}
		if !found {
			t.Errorf("no access.denied.v1 for %s", op)
		}
	}

	login := s.localAccount(t, ukey, "correct horse battery")
	s.ok(t, o.adminKey, mSetPassword, map[string]any{"in": map[string]any{"userId": uid, "login": login, "password": "temporary password 1"}})
	got, _, err := s.p.Store.Load(ctx, "user-"+uid)
	if err != nil {
		t.Fatal(err)
	}
	var sets [][]byte
	for _, r := range got {
		if r.Type == "user.password_set.v1" {
			sets = append(sets, r.Data)
		}
	}
	if len(sets) != 2 || !bytes.Contains(sets[0], []byte(`"reset":false`)) || !bytes.Contains(sets[1], []byte(`"reset":true`)) ||
		!bytes.Contains(sets[1], []byte(o.adminID)) || bytes.Contains(sets[1], []byte("temporary")) {
		t.Fatalf("password_set events %s", sets)
	}
	count := func() int {
		r := s.ok(t, o.adminKey, `query { auditLog(filter: {action: "user.password_set.v1"}, justification: "Reviewing password changes for the audit.") { edges { node { id } } } }`, nil)
		return len(r["auditLog"].(map[string]any)["edges"].([]any))
	}
	s.waitFor(t, func() bool { return count() == 2 })
}

// accessLog decodes the organisation's access log.
func (s *stack) accessLog(t *testing.T, orgID string) []domain.Event {
	t.Helper()
	ctx := context.Background()
	recs, _, err := s.p.Store.Load(ctx, domain.AccessStream(orgID))
	if err != nil {
		t.Fatal(err)
	}
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	evs := make([]domain.Event, len(recs))
	for i, r := range recs {
		p, err := reg.New(r.Type)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.p.Codec.Decode(ctx, r.EventID, r.Data, p); err != nil {
			t.Fatal(err)
		}
		if evs[i], err = domain.Deref(p); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// testPasswordFlows: one's own password needs the current one (or a fresh login); an
// Admin's reset forces a change at the next login; where MFA is required the right and a
// wrong password get one answer and both count; failures slow a login down instead of
// locking it for 15 minutes.
func testPasswordFlows(t *testing.T, s *stack) {
	o := s.newOrg(t, testSettings())
	uid, ukey := s.user(t, o, "USER")
	const pw = "correct horse battery"
	login := s.localAccount(t, ukey, pw) // the first password needs none

	// A stolen API key (no login time) cannot change the password without the current one.
	set := func(cred string, in map[string]any) response {
		in["login"] = login
		return s.do(t, cred, mSetPassword, map[string]any{"in": in})
	}
	if r := set(ukey, map[string]any{"password": "attacker password 1"}); r.code() != "FORBIDDEN" {
		t.Fatalf("own password without the current one: %+v", r.Errors)
	}
	if r := set(ukey, map[string]any{"password": "attacker password 1", "currentPassword": "wrong guess 1"}); r.code() != "FORBIDDEN" {
		t.Fatalf("own password with a wrong current one: %+v", r.Errors)
	}
	if r := set(ukey, map[string]any{"password": "second good password", "currentPassword": pw}); len(r.Errors) > 0 {
		t.Fatalf("own password with the current one: %+v", r.Errors)
	}
	// A session opened minutes ago may change it without.
	l, r := s.loginAs(t, o.id, login, "second good password")
	if l == nil || l["passwordChangeRequired"] != false {
		t.Fatalf("login: %v %+v", l, r.Errors)
	}
	if r := set(l["token"].(string), map[string]any{"password": "third good password"}); len(r.Errors) > 0 {
		t.Fatalf("own password from a fresh session: %+v", r.Errors)
	}

	// An Admin's reset: the next login must change the password before anything else.
	s.ok(t, o.adminKey, mSetPassword, map[string]any{"in": map[string]any{"userId": uid, "login": login, "password": "temporary password 1"}})
	l, r = s.loginAs(t, o.id, login, "temporary password 1")
	if l == nil || l["passwordChangeRequired"] != true {
		t.Fatalf("login after a reset: %v %+v", l, r.Errors)
	}
	restricted := l["token"].(string)
	if r := s.do(t, restricted, `{ me { id } spaces { edges { node { id } } } }`, nil); r.code() != "FORBIDDEN" || r.Data["me"] != nil {
		t.Fatalf("restricted session reads: %+v", r)
	}
	if r := set(restricted, map[string]any{"password": "my very own password"}); len(r.Errors) > 0 {
		t.Fatalf("changing the reset password: %+v", r.Errors)
	}
	if r := s.do(t, restricted, `{ me { id } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("restricted session after the change: %q", r.code())
	}
	l, r = s.loginAs(t, o.id, login, "my very own password")
	if l == nil || l["passwordChangeRequired"] != false {
		t.Fatalf("login after the change: %v %+v", l, r.Errors)
	}
	s.ok(t, l["token"].(string), `{ me { id } }`, nil)

	// Failures slow the login down for a few seconds; they do not lock it for 15 minutes.
	for i := range 5 {
		s.loginAs(t, o.id, login, "wrong password "+string(rune('a'+i)))
	}
	if l, r := s.loginAs(t, o.id, login, "my very own password"); l != nil || r.code() != "FORBIDDEN" {
		t.Fatalf("right password during the delay: %v %+v", l, r.Errors)
	}
	s.clock.Advance(10 * time.Second)
	if l, r := s.loginAs(t, o.id, login, "my very own password"); l == nil {
		t.Fatalf("right password after the delay: %+v", r.Errors)
	}

	// Where MFA is required, the right and a wrong password get the same answer, and count.
	settings := testSettings()
	settings.MFARequired = true
	m := s.newOrg(t, settings)
	_, mkey := s.user(t, m, "USER")
	mlogin := s.localAccount(t, mkey, pw)
	_, right := s.loginAs(t, m.id, mlogin, pw)
	_, wrong := s.loginAs(t, m.id, mlogin, "wrong password 1")
	if right.code() != "UNAUTHENTICATED" || len(right.Errors) != 1 || len(wrong.Errors) != 1 ||
		right.Errors[0].Message != wrong.Errors[0].Message || right.code() != wrong.code() {
		t.Fatalf("right %+v, wrong %+v: want one answer", right.Errors, wrong.Errors)
	}
	// Right passwords alone reach the delay: they are counted as failures.
	limited := false
	for range 8 {
		if _, r := s.loginAs(t, m.id, mlogin, pw); r.code() == "FORBIDDEN" {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("right passwords where MFA is required are not counted toward the limit")
	}
}
