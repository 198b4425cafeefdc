package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/oauth2-proxy/mockoidc"

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// person is who the test identity provider signs in next: the claims of its ID token.
type person struct {
	sub, email, name string
	verified         bool
	groups, amr      []string
}

func (p person) ID() string                        { return p.sub }
func (p person) Userinfo([]string) ([]byte, error) { return json.Marshal(map[string]any{"sub": p.sub}) }

// Claims gives the ID token the person's e-mail, name, groups and amr.
func (p person) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &personClaims{IDTokenClaims: base, Email: p.email, EmailVerified: p.verified, Name: p.name, Groups: p.groups, AMR: p.amr}, nil
}

type personClaims struct {
	*mockoidc.IDTokenClaims
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	AMR           []string `json:"amr,omitempty"`
}

// testIdP is a real OpenID provider (mockoidc: discovery, JWKS, authorization and token
// endpoints with PKCE) on a loopback port, with a tamper switch for forged responses.
type testIdP struct {
	*mockoidc.MockOIDC
	mu sync.Mutex
	// tamperNonce makes the next authorization request carry another nonce; tamperIssuer
	// makes the next token response's ID token name another issuer (signed with the
	// provider's own key).
	tamperNonce, tamperIssuer bool
}

func startIdP(t *testing.T) *testIdP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	i := &testIdP{MockOIDC: m}
	// Middleware is chained when the server starts: add it first.
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i.mu.Lock()
			nonce, iss := i.tamperNonce && strings.HasSuffix(r.URL.Path, "/authorize"), i.tamperIssuer && strings.HasSuffix(r.URL.Path, "/token")
			if nonce {
				i.tamperNonce = false
			}
			i.mu.Unlock()
			if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
				// mockoidc names no end-session endpoint; this provider has one.
				rec := &recorder{header: http.Header{}}
				next.ServeHTTP(rec, r)
				var doc map[string]any
				_ = json.Unmarshal(rec.body.Bytes(), &doc)
				doc["end_session_endpoint"] = m.Issuer() + "/logout"
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(doc)
				return
			}
			if nonce {
				q := r.URL.Query()
				q.Set("nonce", "an-attackers-nonce")
				r.URL.RawQuery = q.Encode()
			}
			if !iss {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			var body map[string]any
			if json.Unmarshal(rec.body.Bytes(), &body) == nil {
				if raw, ok := body["id_token"].(string); ok {
					claims := jwt.MapClaims{}
					payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
					_ = json.Unmarshal(payload, &claims)
					claims["iss"] = "http://127.0.0.1:1/another-issuer"
					if forged, err := m.Keypair.SignJWT(claims); err == nil {
						body["id_token"] = forged
						i.mu.Lock()
						i.tamperIssuer = false
						i.mu.Unlock()
					}
				}
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.code)
			_ = json.NewEncoder(w).Encode(body)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return i
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

// idToken runs the provider's code flow outside Arkiv for p and returns the ID token: what an
// Admin obtains from their provider as proof of control.
func (i *testIdP) idToken(t *testing.T, p person) string {
	t.Helper()
	i.QueueUser(p)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {i.ClientID}, "response_type": {"code"}, "scope": {"openid email"}, "state": {"s"},
		"redirect_uri": {"http://127.0.0.1/cb"}, "nonce": {"n"}}
	resp, err := noRedirect.Get(i.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.PostForm(i.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {i.ClientID}, "client_secret": {i.ClientSecret}, "redirect_uri": {"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		t.Fatalf("no ID token from the provider: %v", err)
	}
	return out.IDToken
}

// signInOutcome is where a browser-like client ended after /auth/{org}/login.
type signInOutcome struct {
	token    string // the console's session cookie, empty when refused
	final    *url.URL
	status   int
	callback string // the callback URL the provider redirected to
	flow     *http.Cookie
}

// signIn follows the whole flow as a browser would (cookie jar, redirects) with the provider
// signing in p.
func (s *consoleStack) signIn(t *testing.T, i *testIdP, org string, p person) signInOutcome {
	t.Helper()
	i.QueueUser(p)
	jar, _ := cookiejar.New(nil)
	var out signInOutcome
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Path == "/auth/callback" {
			out.callback = r.URL.String()
			base, _ := url.Parse(s.base + "/auth/callback")
			for _, ck := range jar.Cookies(base) {
				if ck.Name == "arkiv_oidc_flow" {
					out.flow = ck
				}
			}
		}
		return nil
	}}
	resp, err := c.Get(s.base + "/auth/" + org + "/login")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	out.final, out.status = resp.Request.URL, resp.StatusCode
	consoleURL, _ := url.Parse(s.base + "/console/")
	for _, ck := range jar.Cookies(consoleURL) {
		if ck.Name == "arkiv_console" {
			out.token = ck.Value
		}
	}
	return out
}

// loginFailures returns the reasons of the organisation's access.login_failed.v1 events.
func (s *consoleStack) loginFailures(t *testing.T, org string) []string {
	t.Helper()
	recs, _, err := s.p.Store.Load(context.Background(), domain.AccessStream(org))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Type != (domain.LoginFailed{}).EventName() {
			continue
		}
		var e domain.LoginFailed
		if err := s.p.Codec.Decode(context.Background(), r.EventID, r.Data, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Reason)
	}
	return out
}

// eventually retries check until it passes or 20 seconds have gone.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const mConfigureIdP = `mutation($in: ConfigureIdentityProviderInput!) { configureIdentityProvider(input: $in) { id position } }`

// TestSignInWithIdentityProvider drives sign-in through a real OpenID provider running in
// the test: configuring it needs proof of control (refused without, with another person's
// token or another issuer's, audited), and another organisation cannot claim the pair; the
// authorization code flow with PKCE opens a session usable as a bearer token; JIT off
// refuses an unknown person, JIT on creates them with roles from their groups, and a group
// removed at the provider removes the role at the next sign-in, each change an event with
// the provider as the reason; MFA required refuses a sign-in without it; forged callbacks
// (unknown state, another browser's state, a replay, a wrong nonce, a wrong issuer, a late
// callback) are refused and audited; sign-out offers the provider's end-session URL; the
// console's "Sign in with …" button signs in in Chromium.
func TestSignInWithIdentityProvider(t *testing.T) {
	s := startConsoleStack(t)
	ctx := context.Background()
	i := startIdP(t)
	settings := domain.DefaultOrganizationSettings()
	settings.MFARequired = false
	boot, err := s.p.App.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun A",
		AdminEmail: "admin@a.invalid", AdminName: "Ada Admin", Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, boot.Position)
	org, admin := boot.OrganizationID, boot.APIKey
	space := s.mutate(t, admin, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"name": "Records", "classification": "INTERNAL"}})

	provider := func(extra map[string]any) map[string]any {
		in := map[string]any{"issuer": i.Issuer(), "audience": i.ClientID, "clientSecret": i.ClientSecret,
			"displayName": "Kommun A Entra", "groupRoles": []any{
				map[string]any{"group": "g-admins", "orgRole": "ADMIN"},
				map[string]any{"group": "g-records", "spaceId": space, "spaceRole": "EDITOR"},
			}}
		for k, v := range extra {
			in[k] = v
		}
		return map[string]any{"in": in}
	}
	do := func(token, q string, vars map[string]any) (map[string]any, string) {
		body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []struct {
				Extensions struct {
					Code string `json:"code"`
				} `json:"extensions"`
			} `json:"errors"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if len(out.Errors) > 0 {
			return nil, out.Errors[0].Extensions.Code
		}
		return out.Data, ""
	}
	adminPerson := person{sub: "entra-ada", email: "admin@a.invalid", verified: true, name: "Ada Admin"}

	// Proof of control: none, someone else's token, an unverified e-mail, another issuer's.
	other := startIdP(t)
	for name, proof := range map[string]string{
		"no proof":                  "",
		"another person's token":    i.idToken(t, person{sub: "entra-eve", email: "eve@a.invalid", verified: true}),
		"an unverified e-mail":      i.idToken(t, person{sub: "entra-ada2", email: "admin@a.invalid", verified: false}),
		"another issuer's token":    other.idToken(t, adminPerson),
		"a token that is not a JWT": "not-a-token",
	} {
		extra := map[string]any{}
		if proof != "" {
			extra["proofToken"] = proof
		}
		want := "FORBIDDEN"
		if proof == "" {
			want = "INVALID"
		}
		if _, code := do(admin, mConfigureIdP, provider(extra)); code != want {
			t.Fatalf("configuring with %s: %q, want %s", name, code, want)
		}
	}
	recs, _, err := s.p.Store.Load(ctx, domain.AccessStream(org))
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, r := range recs {
		if r.Type == (domain.AccessDenied{}).EventName() {
			denied++
		}
	}
	if denied < 4 {
		t.Fatalf("%d access denials recorded for the refused proofs, want 4", denied)
	}
	if ps, _ := do("", `query($o: ID!) { signInProviders(organizationId: $o) { id } }`, map[string]any{"o": org}); len(ps["signInProviders"].([]any)) != 0 {
		t.Fatalf("a provider without proof was configured: %v", ps)
	}
	res, code := do(admin, mConfigureIdP, provider(map[string]any{"proofToken": i.idToken(t, adminPerson)}))
	if code != "" {
		t.Fatalf("configuring with the Admin's proof: %s", code)
	}
	_ = res

	// Another organisation cannot claim the pair, even with a proof its Admin obtained.
	bboot, err := s.p.App.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun B",
		AdminEmail: "admin@b.invalid", AdminName: "Bo Admin", Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, bboot.Position)
	in := provider(map[string]any{"proofToken": i.idToken(t, person{sub: "entra-bo", email: "admin@b.invalid", verified: true})})
	if _, code := do(bboot.APIKey, mConfigureIdP, in); code != "CONFLICT" {
		t.Fatalf("B claiming A's pair: %q, want CONFLICT", code)
	}

	// The public list of sign-in providers names no issuer.
	ps, _ := do("", `query($o: ID!) { signInProviders(organizationId: $o) { id displayName loginPath } }`, map[string]any{"o": org})
	list := ps["signInProviders"].([]any)
	if len(list) != 1 || strings.Contains(mustJSON(list), i.Issuer()) || list[0].(map[string]any)["displayName"] != "Kommun A Entra" {
		t.Fatalf("signInProviders = %v", list)
	}

	// JIT off: a person the organisation does not know is refused and the refusal audited.
	maria := person{sub: "entra-maria", email: "maria@a.invalid", verified: true, name: "Maria Jansson", groups: []string{"g-admins", "g-records"}}
	if o := s.signIn(t, i, org, maria); o.token != "" || o.final.Query().Get("refused") == "" || o.status != http.StatusUnauthorized {
		t.Fatalf("unknown person with JIT off: %+v", o)
	}
	if r := s.loginFailures(t, org); !slices.Contains(r, "oidc_unknown_user") {
		t.Fatalf("login failures %v, want oidc_unknown_user", r)
	}

	// JIT on (no new proof needed for a pair the organisation holds): Maria is created, an
	// Admin through g-admins and an Editor of Records through g-records.
	if _, code := do(admin, mConfigureIdP, provider(map[string]any{"justInTime": true})); code != "" {
		t.Fatalf("turning JIT on: %s", code)
	}
	o := s.signIn(t, i, org, maria)
	if o.token == "" || o.status != http.StatusOK || o.final.Path != "/auth/callback" {
		t.Fatalf("JIT sign-in: %+v, refusals %v", o, s.loginFailures(t, org))
	}
	me, code := do(o.token, `{ me { id role email } }`, nil)
	if code != "" {
		t.Fatalf("the session token as a bearer token: %s", code)
	}
	uid := me["me"].(map[string]any)["id"].(string)
	if uid != domain.DirectoryUserID(org, i.Issuer(), maria.sub) || me["me"].(map[string]any)["role"] != "ADMIN" {
		t.Fatalf("me = %v", me)
	}
	eventually(t, "Maria an Editor of Records", func() bool {
		r, err := s.p.Reads.SpaceRole(ctx, org, space, uid)
		return err == nil && r == domain.SpaceRoleEditor
	})
	// Every change names the provider as its reason.
	urecs, _, _ := s.p.Store.Load(ctx, domain.StreamPrefixUser+uid)
	srecs, _, _ := s.p.Store.Load(ctx, domain.StreamPrefixSpace+space)
	for _, r := range append(urecs, srecs[len(srecs)-1]) {
		var md domain.Metadata
		_ = json.Unmarshal(r.Metadata, &md)
		if md.Actor != domain.SystemActor || md.Reason != usecase.DirectoryReason(i.Issuer()) {
			t.Fatalf("%s: actor %q, reason %q", r.Type, md.Actor, md.Reason)
		}
	}

	// Removed from both groups at the provider: the next sign-in takes both roles away.
	maria.groups = nil
	if o := s.signIn(t, i, org, maria); o.token == "" {
		t.Fatalf("second sign-in: %+v", o)
	}
	eventually(t, "Maria a User outside Records", func() bool {
		role, _, err := s.p.Reads.OrgRole(ctx, org, uid)
		sr, err2 := s.p.Reads.SpaceRole(ctx, org, space, uid)
		return err == nil && err2 == nil && role == domain.OrgRoleUser && sr == domain.SpaceRoleNone
	})
	srecs, _, _ = s.p.Store.Load(ctx, domain.StreamPrefixSpace+space)
	if srecs[len(srecs)-1].Type != (domain.SpaceMemberRemoved{}).EventName() {
		t.Fatalf("last space event %s, want the member's removal", srecs[len(srecs)-1].Type)
	}

	// MFA required: a sign-in without it is refused; with an amr that shows it, it passes.
	settings.MFARequired = true
	r, err := s.p.App.ChangeOrganizationSettings.Handle(ctx, usecase.ChangeOrganizationSettings{
		Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: boot.AdminUserID}, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, r.Position)
	maria.amr = []string{"pwd"}
	if o := s.signIn(t, i, org, maria); o.token != "" {
		t.Fatalf("sign-in without MFA: %+v", o)
	}
	maria.amr = []string{"pwd", "mfa"}
	ok := s.signIn(t, i, org, maria)
	if ok.token == "" {
		t.Fatalf("sign-in with MFA: %+v", ok)
	}

	// Forged and replayed callbacks.
	call := func(target string, flow *http.Cookie) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		if flow != nil {
			req.AddCookie(flow)
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	refused := func(what string, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "refused=1") {
			t.Fatalf("%s: status %d, location %q", what, resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "arkiv_console" && ck.Value != "" {
				t.Fatalf("%s: a session cookie was set", what)
			}
		}
	}
	refused("a replayed callback", call(ok.callback, ok.flow))
	refused("an unknown state", call(s.base+"/auth/callback?code=x&state=forged", ok.flow))
	// A state begun in another browser: the victim's callback with the attacker's cookie.
	jar, _ := cookiejar.New(nil)
	begin := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := begin.Get(s.base + "/auth/" + org + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL, _ := url.Parse(resp.Header.Get("Location"))
	if authURL.Query().Get("code_challenge_method") != "S256" || authURL.Query().Get("code_challenge") == "" || authURL.Query().Get("nonce") == "" {
		t.Fatalf("the authorization request lacks PKCE or a nonce: %s", authURL)
	}
	refused("another browser's state", call(s.base+"/auth/callback?code=x&state="+url.QueryEscape(authURL.Query().Get("state")), ok.flow))
	i.mu.Lock()
	i.tamperNonce = true
	i.mu.Unlock()
	if o := s.signIn(t, i, org, maria); o.token != "" {
		t.Fatalf("a wrong nonce: %+v", o)
	}
	i.mu.Lock()
	i.tamperIssuer = true
	i.mu.Unlock()
	if o := s.signIn(t, i, org, maria); o.token != "" {
		t.Fatalf("a wrong issuer: %+v", o)
	}
	reasons := s.loginFailures(t, org)
	for _, want := range []string{"oidc_mfa_required", "oidc_replayed_state", "oidc_bad_state", "oidc_bad_nonce", "oidc_bad_issuer"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s among the audited refusals %v", want, reasons)
		}
	}

	// Sign-out ends the session and offers the provider's end-session endpoint.
	out, code := do(ok.token, `mutation { logout { id endSessionUrl } }`, nil)
	if code != "" || out["logout"].(map[string]any)["id"] != uid {
		t.Fatalf("logout: %v %s", out, code)
	}
	end, _ := url.Parse(fmtString(out["logout"].(map[string]any)["endSessionUrl"]))
	if end == nil || end.Scheme+"://"+end.Host+end.Path != i.Issuer()+"/logout" || end.Query().Get("client_id") != i.ClientID ||
		end.Query().Get("post_logout_redirect_uri") != s.base+"/console/sign-in?out=1" {
		t.Fatalf("endSessionUrl = %v", out["logout"])
	}
	if _, code := do(ok.token, `{ me { id } }`, nil); code != "UNAUTHENTICATED" {
		t.Fatalf("after logout: %q", code)
	}

	// The console's button, in Chromium.
	i.QueueUser(maria)
	root := browser(t)
	bctx, cancel := context.WithTimeout(root, 90*time.Second)
	defer cancel()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, c := context.WithTimeout(bctx, 20*time.Second)
		defer c()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, lerr := chromedp.Run(bctx, chromedp.Location())
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`body`)))
			t.Fatalf("console sign-in through the provider: %s: %v\nat %s (%v):\n%s", what, err, loc, lerr, body)
		}
	}
	// The browser starts with the first action run on its context: on bctx, not on a step's.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	step("open the sign-in page", chromedp.Navigate(s.base+"/console/sign-in?org="+org), chromedp.WaitVisible(chromedp.CSS(`a.provider`)))
	step("sign in with the provider", chromedp.Click(chromedp.CSS(`a.provider`)), chromedp.WaitVisible(chromedp.CSS(`#who`)))
	who, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#who`)))
	if err != nil {
		t.Fatal(err)
	}
	if shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(90)); err == nil {
		_ = os.WriteFile(filepath.Join(screenshotDir(t), "console-oidc-signed-in.png"), shot, 0o644)
	}
	if !strings.Contains(who, "Maria Jansson") {
		t.Fatalf("signed in as %q", who)
	}

	// A callback more than ten minutes after its flow began is refused (last: the clock
	// moves on for good).
	i.QueueUser(maria)
	jar2, _ := cookiejar.New(nil)
	slow := &http.Client{Jar: jar2, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/auth/callback" {
			s.clock.Advance(11 * time.Minute)
		}
		return nil
	}}
	resp, err = slow.Get(s.base + "/auth/" + org + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Query().Get("refused") == "" || !slices.Contains(s.loginFailures(t, org), "oidc_expired_state") {
		t.Fatalf("a late callback ended at %s, refusals %v", resp.Request.URL, s.loginFailures(t, org))
	}
}

func fmtString(v any) string {
	s, _ := v.(string)
	return s
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
