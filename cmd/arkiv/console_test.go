package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app"
	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/console"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/httpserver"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/ledger"
)

// consoleStack is a whole Arkiv in-process behind the real HTTP server, with the console
// mounted as `arkiv serve` mounts it.
type consoleStack struct {
	p     *app.Platform
	base  string
	clock *clocktest.Clock
}

func startConsoleStack(t *testing.T) *consoleStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := ledger.GenerateKey("arkiv.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "ledger-key")
	if err := ledger.WriteKeyFile(keyPath, skey, vkey); err != nil {
		t.Fatal(err)
	}
	signing, err := ledger.LoadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	clock := &clocktest.Clock{}
	p, err := app.Open(ctx, app.Config{
		SigningKey: signing, CheckpointEvery: 1, CheckpointInterval: 100 * time.Millisecond,
		PGURL: pgtest.NewDatabase(t), KeystoreURL: pgtest.NewDatabase(t), ESDBURL: es.ConnectionString(),
		WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"),
		SearchClass: weaviatetest.ClassName(t, "Console"), KEKFile: filepath.Join(t.TempDir(), "kek.json"),
		LoginKey: bytes.Repeat([]byte{7}, 32), Projections: true, Version: "test", Clock: clock, ErasureEvery: 250 * time.Millisecond,
		Models: llm.NewRouter(llm.Config{MaxAttempts: 2, BackoffInitial: 20 * time.Millisecond}, nil).
			WithCatalog(domain.ModelCatalog{}.With(domain.CatalogEntry{ID: "test-model", Endpoint: llm.OfflineEndpoint, Region: domain.RegionEU}), nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	cons := console.New(console.Config{GraphQL: p.Handler(), Exports: p.Exports()})
	srv, err := httpserver.Listen(httpserver.Config{Listen: "127.0.0.1:0", GraphQL: p.Handler(), Exports: p.Exports(),
		Console: cons, SignIn: p.Auth.SignInHandler(auth.SignInOptions{Pages: cons})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = p.Run(ctx); done <- struct{}{} }()
	go func() { _ = srv.Serve(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		p.Close()
		sctx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		_ = es.Close(sctx)
	})
	return &consoleStack{p: p, base: srv.URL(), clock: clock}
}

// gql runs an operation that must succeed and returns its data.
func (s *consoleStack) gql(t *testing.T, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
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
		Errors []any          `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %v %v", query, err, out.Errors)
	}
	return out.Data
}

// mutate runs a mutation answering {id position}, waits for the read models and returns id.
func (s *consoleStack) mutate(t *testing.T, token, query string, vars map[string]any) string {
	t.Helper()
	for _, v := range s.gql(t, token, query, vars) {
		m := v.(map[string]any)
		pos, _ := strconv.ParseUint(m["position"].(string), 10, 64)
		s.wait(t, pos)
		return m["id"].(string)
	}
	t.Fatal("no result")
	return ""
}

func (s *consoleStack) wait(t *testing.T, pos uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.p.Waiter.WaitFor(ctx, s.p.Runner.Names(), pos, 20*time.Second); err != nil {
		t.Fatalf("waiting for position %d: %v", pos, err)
	}
}

// TestConsoleInABrowser drives the console in Chromium as a compliance officer would: sign
// in with an API key, read the safeguards, open the audit log with a justification and find
// the entry of an earlier GraphQL mutation, ask who can access a space, order and restore an
// erasure, sign out; a User is refused the audit log with the API's FORBIDDEN; a local
// account's session ends visibly after the idle timeout. No request leaves the server, and
// every page is served under the strict CSP. Screenshots go to .data/test/screenshots.
func TestConsoleInABrowser(t *testing.T) {
	s := startConsoleStack(t)
	ctx := context.Background()
	settings := domain.DefaultOrganizationSettings()
	settings.MFARequired = false
	settings.EUOnly = true
	settings.Password.MinLength = 10
	settings.Models = []domain.AllowedModel{{ID: "test-model", Endpoint: llm.OfflineEndpoint,
		Region: domain.RegionEU, MaxClassification: domain.ClassRestricted}}
	boot, err := s.p.App.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Console Org",
		AdminEmail: "admin@console.invalid", AdminName: "Dana Admin", Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, boot.Position)
	admin := boot.APIKey

	// An earlier GraphQL mutation, whose audit entry the console must show.
	space := s.mutate(t, admin, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"name": "Records", "classification": "INTERNAL"}})
	user := s.mutate(t, admin, `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"email": "user@console.invalid", "name": "Uma User", "role": "USER"}})
	// Erin is the subject of the erasure the console orders and restores (restoring a
	// user's erasure ends their local account, so not Uma, who signs in with a password).
	erin := s.mutate(t, admin, `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"email": "erin@console.invalid", "name": "Erin Erased", "role": "USER"}})
	// An instant, to the second, after the space exists and before Uma joins it: the access
	// page as of then must not list her.
	time.Sleep(1100 * time.Millisecond)
	beforeMember := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	s.mutate(t, admin, `mutation($in: AddSpaceMemberInput!) { addSpaceMember(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "userId": user, "role": "VIEWER"}})
	k := s.gql(t, admin, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret position } }`,
		map[string]any{"in": map[string]any{"userId": user}})["createApiKey"].(map[string]any)
	userKey := k["secret"].(string)
	pos, _ := strconv.ParseUint(k["position"].(string), 10, 64)
	s.wait(t, pos)
	// Uma sets her first password herself (an Admin's reset would force a change at login).
	s.gql(t, userKey, `mutation($in: SetPasswordInput!) { setPassword(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"login": "uma", "password": "correct horse battery"}})
	// A model call, for the model-calls page: an assistant that logs its payloads answers.
	s.mutate(t, admin, `mutation($in: EnableSpaceModelsInput!) { enableSpaceModels(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "modelIds": []string{"test-model"}}})
	s.mutate(t, admin, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "title": "Records policy",
			"content": "Records are kept for ten years. Personal data in records is erased on request after review."}})
	assistant := s.mutate(t, admin, `mutation($in: CreateAssistantInput!) { createAssistant(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "name": "Records guide", "instructions": "Answer from the records.",
			"modelId": "test-model", "logModelPayloads": true}})
	conv := s.mutate(t, admin, `mutation($in: StartConversationInput!) { startConversation(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"assistantId": assistant}})
	s.mutate(t, admin, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"conversationId": conv, "text": "How long are records kept?"}})
	// A document the console erases with no grace window, to read its certificate.
	doomed := s.mutate(t, admin, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "title": "Draft minutes", "content": "Draft minutes of a meeting, to be erased."}})
	// A checkpoint and a verification run, for the overview.
	deadline := time.Now().Add(30 * time.Second)
	for {
		in := s.gql(t, admin, `{ auditIntegrity { checkpoint { treeSize } lastVerification { ok } } }`, nil)["auditIntegrity"].(map[string]any)
		if in["checkpoint"] != nil && in["lastVerification"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint and verification within 30 s: %v", in)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every console page carries the strict CSP.
	resp, err := http.Get(s.base + "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "unsafe") {
		t.Fatalf("sign-in page: status %d, CSP %q", resp.StatusCode, csp)
	}

	// A form post without the session's CSRF token, or from another site, is refused.
	signedIn := &http.Cookie{Name: "arkiv_console", Value: admin}
	for name, req := range map[string]*http.Request{
		"sign-out without a CSRF token": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.base+"/console/sign-out", strings.NewReader("csrf=forged"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.AddCookie(signedIn)
			return r
		}(),
		"a sign-in posted from another site": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.base+"/console/sign-in", strings.NewReader("method=apikey&apiKey="+admin))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", "https://evil.example")
			return r
		}(),
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) > 0 {
			t.Fatalf("%s: status %d, cookies %v", name, resp.StatusCode, resp.Cookies())
		}
	}

	bctx := browser(t)
	bctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var foreign []string
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && !strings.HasPrefix(e.Request.URL, s.base) && !strings.HasPrefix(e.Request.URL, "data:") {
			mu.Lock()
			foreign = append(foreign, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Console errors: a CSP violation (an inline script or style htmx might add) or a
	// script exception is reported here.
	var consoleErrors []string
	cctx, stopConsole := context.WithCancel(bctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range chromedp.Console(cctx) {
			if err != nil {
				return
			}
			// The refusals this test provokes answer 400, 401 and 403, as they should.
			expected := strings.Contains(m.Text, "status of 400") || strings.Contains(m.Text, "status of 401") || strings.Contains(m.Text, "status of 403")
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !expected {
				mu.Lock()
				consoleErrors = append(consoleErrors, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	shots := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, "console-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// eventually polls the text of sel until ok holds: after a click the old page may still
	// be showing.
	eventually := func(sel string, ok func(string) bool) string {
		t.Helper()
		var got string
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			got, _ = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel), chromedp.AtLeast(0)))
			if ok(got) {
				return got
			}
		}
		return got
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`body`)))
			shot("failure")
			t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
		}
	}
	signInWithKey := func(key string) {
		t.Helper()
		do("sign in with an API key",
			chromedp.Navigate(s.base+"/console/"),
			chromedp.WaitVisible(chromedp.CSS(`#apikey`)),
			chromedp.SendKeys(chromedp.CSS(`#apikey`), key),
			chromedp.Click(chromedp.CSS(`#sign-in-key`)),
			chromedp.WaitVisible(chromedp.CSS(`#safeguards`)))
	}

	// A SIEM destination the overview shows with its health: a webhook receiver here.
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer siem.Close()
	s.gql(t, admin, `mutation($in: ConfigureAuditStreamInput!) { configureAuditStream(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"kind": "WEBHOOK", "format": "OCSF", "endpoint": siem.URL + "/hook"}})

	// 1. Sign-in page, then sign in with the Admin's API key: the overview.
	do("open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS(`#apikey`)))
	shot("sign-in")
	signInWithKey(admin)
	if got := text(`#eu-only`); got != "On" {
		t.Fatalf("EU-only shows %q", got)
	}
	if got := text(`#mfa`); got != "Not required" {
		t.Fatalf("MFA shows %q", got)
	}
	if got := text(`#models`); !strings.Contains(got, "test-model") || !strings.Contains(got, "EU") || !strings.Contains(got, "RESTRICTED") {
		t.Fatalf("the allow-list shows %q", got)
	}
	if got := text(`#verification`); got != "Verified" {
		t.Fatalf("the verification shows %q", got)
	}
	if got := text(`#checkpoint`); !strings.Contains(got, "Last signed checkpoint") {
		t.Fatalf("the checkpoint shows %q", got)
	}
	if got := text(`#audit-streams`); !strings.Contains(got, "WEBHOOK") || !strings.Contains(got, siem.URL+"/hook") || !strings.Contains(got, "OCSF") {
		t.Fatalf("the audit streams show %q", got)
	}
	if got := text(`#who`); !strings.Contains(got, "Dana Admin") || !strings.Contains(got, "ADMIN") {
		t.Fatalf("the header shows %q", got)
	}
	shot("overview")

	// 2. The audit log asks for a justification, then shows the space's creation.
	const why = "Quarterly access review of the Records space"
	do("open the audit log",
		chromedp.Click(chromedp.CSS(`nav a[href="/console/audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#justification`)))
	shot("audit-justification")
	do("give the justification",
		chromedp.SendKeys(chromedp.CSS(`#justification`), why),
		chromedp.Click(chromedp.CSS(`#justify`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit`)))
	if got := text(`#justification-shown`); !strings.Contains(got, why) {
		t.Fatalf("the justification is not shown: %q", got)
	}
	if got := text(`#session-left`); !strings.Contains(got, "min left") || !strings.Contains(got, "60 min") && !strings.Contains(got, "59 min") {
		t.Fatalf("the audit session's time left: %q", got)
	}
	if got := text(`#audit`); !strings.Contains(got, "space.created.v1") || !strings.Contains(got, space) {
		t.Fatalf("the audit log lacks the space's creation (%s): %q", space, got)
	}
	shot("audit")
	do("filter by target",
		chromedp.SendKeys(chromedp.CSS(`#f-target`), space),
		chromedp.Click(chromedp.CSS(`#filter`)))
	if got := eventually(`#audit`, func(s string) bool { return !strings.Contains(s, user) }); !strings.Contains(got, "space.created.v1") || strings.Contains(got, user) {
		t.Fatalf("the filtered audit log: %q", got)
	}

	do("open the entry's detail",
		chromedp.Click(chromedp.CSS(`#audit details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit details[open] .panel`)),
		chromedp.Focus(chromedp.CSS(`#f-actor`)))
	if got := text(`#audit details[open] .panel`); !strings.Contains(got, space) || !strings.Contains(got, "Position") {
		t.Fatalf("the entry's detail: %q", got)
	}
	shot("audit-entry")

	// The filtered log, exported in the background: the job page follows the export until
	// the file is ready, and the download is the export with its footer.
	do("export the filtered log",
		chromedp.SetValue(chromedp.CSS(`#x-format`), "JSONL"),
		chromedp.Click(chromedp.CSS(`#export-audit`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-status`)))
	if got := eventually(`#job-state`, func(s string) bool { return s == "DONE" }); got != "DONE" {
		t.Fatalf("the audit export's job shows %q", got)
	}
	do("the download link", chromedp.WaitVisible(chromedp.CSS(`#download`)))
	shot("audit-export")
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`#download`), "href"))
	if err != nil || !strings.HasPrefix(href.Value, "/console/audit/exports/") {
		t.Fatalf("download link %+v, %v", href, err)
	}
	body, status := consoleGet(t, s.base+href.Value, signedIn)
	if status != http.StatusOK || !strings.Contains(body, "space.created.v1") || !strings.Contains(body, `"footer"`) || !strings.Contains(body, `"filter":{"targetId":"`+space+`"`) {
		t.Fatalf("the downloaded export (status %d):\n%s", status, body)
	}
	if _, status := consoleGet(t, s.base+href.Value, &http.Cookie{Name: "arkiv_console", Value: userKey}); status != http.StatusNotFound {
		t.Fatalf("a User downloading the Admin's export: status %d", status)
	}

	// 3. Access: who can access the space.
	do("ask who can access the space",
		chromedp.Navigate(s.base+"/console/access?space="+space),
		chromedp.WaitVisible(chromedp.CSS(`#who-can-access`)))
	if got := text(`#who-can-access`); !strings.Contains(got, user) || !strings.Contains(got, "VIEWER") || !strings.Contains(got, "Uma User") {
		t.Fatalf("who can access: %q", got)
	}
	shot("access")
	do("ask who could access the space before Uma joined",
		chromedp.Navigate(s.base+"/console/access?space="+space+"&asOf="+beforeMember.Format("2006-01-02T15:04:05")),
		chromedp.WaitVisible(chromedp.CSS(`#who-can-access`)))
	if got := text(`#who-can-access`); strings.Contains(got, user) || strings.Contains(got, "Uma User") || !strings.Contains(got, "Dana Admin") {
		t.Fatalf("who could access before Uma joined: %q", got)
	}
	shot("access-as-of")

	// 4. Model calls, evidence, settings.
	do("model calls", chromedp.Navigate(s.base+"/console/model-calls"), chromedp.WaitVisible(chromedp.CSS(`#calls`)))
	if got := text(`#calls`); !strings.Contains(got, "test-model") || !strings.Contains(got, "EU") || !strings.Contains(got, "OK") {
		t.Fatalf("model calls: %q", got)
	}
	do("open a call", chromedp.Click(chromedp.CSS(`#calls details summary`)), chromedp.WaitVisible(chromedp.CSS(`#calls details[open] .panel`)))
	if got := text(`#calls details[open] .panel`); !strings.Contains(got, "How long are records kept?") {
		t.Fatalf("the call's request is not shown: %q", got)
	}
	shot("model-calls")
	do("evidence", chromedp.Navigate(s.base+"/console/evidence"), chromedp.WaitVisible(chromedp.CSS(`#public-key`)))
	if got := text(`#public-key`); !strings.HasPrefix(got, "arkiv.test/ledger+") {
		t.Fatalf("the public key shows %q", got)
	}
	shot("evidence")
	pubKey := text(`#public-key`)
	do("export the evidence bundle",
		chromedp.Click(chromedp.CSS(`#export-evidence`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-status`)))
	if got := eventually(`#job-state`, func(s string) bool { return s == "DONE" || s == "FAILED" }); got != "DONE" {
		t.Fatalf("the evidence export's job shows %q: %s", got, text(`#job-status`))
	}
	do("the bundle's download link", chromedp.WaitVisible(chromedp.CSS(`#download`)))
	shot("evidence-export")
	href, err = chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`#download`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, status := consoleGet(t, s.base+href.Value, signedIn)
	if status != http.StatusOK {
		t.Fatalf("the bundle's download: status %d", status)
	}
	pub, err := note.NewVerifier(pubKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(strings.NewReader(bundle), int64(len(bundle)), note.VerifierList(pub)); err != nil {
		t.Fatalf("the downloaded bundle does not verify with the key the page shows: %v", err)
	}
	tampered := []byte(bundle)
	tampered[len(tampered)/2] ^= 0x01
	if _, err := evidence.Verify(bytes.NewReader(tampered), int64(len(tampered)), note.VerifierList(pub)); err == nil {
		t.Fatal("a bundle with one byte changed verifies")
	}
	// Settings: an Admin changes them through the form (a read-modify-write over the API)
	// and sees them read back; a value the API refuses (INVALID) is shown next to the form
	// and changes nothing.
	do("settings", chromedp.Navigate(s.base+"/console/settings"), chromedp.WaitVisible(chromedp.CSS(`#save-settings`)))
	shot("settings")
	do("change settings through the form",
		chromedp.SetValue(chromedp.CSS(`#s-pwhist`), "5"),
		chromedp.SetValue(chromedp.CSS(`#s-msgret`), "400"),
		chromedp.Click(chromedp.CSS(`#s-pwdigit`)),
		chromedp.SetValue(chromedp.CSS(`select[name="model.0.max"]`), "CONFIDENTIAL"),
		chromedp.Click(chromedp.CSS(`#save-settings`)),
		chromedp.WaitVisible(chromedp.CSS(`#settings-saved`)))
	readBack := func() map[string]any {
		return s.gql(t, admin, `{ organization { settings { defaultMessageRetentionDays erasureGraceDays models { id maxClassification }
			passwordPolicy { minLength requireDigit historyEntries } } } }`, nil)["organization"].(map[string]any)["settings"].(map[string]any)
	}
	got := readBack()
	pp := got["passwordPolicy"].(map[string]any)
	models := got["models"].([]any)
	if got["defaultMessageRetentionDays"] != float64(400) || pp["historyEntries"] != float64(5) || pp["requireDigit"] != true ||
		pp["minLength"] != float64(10) || len(models) != 1 || models[0].(map[string]any)["maxClassification"] != "CONFIDENTIAL" {
		t.Fatalf("the settings the form saved read back as %v", got)
	}
	for sel, want := range map[string]string{`#s-pwhist`: "5", `#s-msgret`: "400", `#s-pwmin`: "10", `select[name="model.0.max"]`: "CONFIDENTIAL"} {
		if v, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(sel))); err != nil || v != want {
			t.Fatalf("the settings page reads %s back as %q (%v), want %q", sel, v, err, want)
		}
	}
	shot("settings-saved")
	do("an erasure grace the API refuses",
		chromedp.SetValue(chromedp.CSS(`#s-grace`), "99"),
		chromedp.SetValue(chromedp.CSS(`#s-msgret`), "365"),
		chromedp.Click(chromedp.CSS(`#save-settings`)),
		chromedp.WaitVisible(chromedp.CSS(`#settings-refused`)))
	if got := text(`#settings-refused`); !strings.Contains(got, "INVALID") || !strings.Contains(got, "nothing changed") {
		t.Fatalf("the refusal shows %q", got)
	}
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(`#s-grace`))); v != "99" {
		t.Fatalf("the refused form does not keep the value sent: %q", v)
	}
	shot("settings-invalid")
	if got := readBack(); got["defaultMessageRetentionDays"] != float64(400) || got["erasureGraceDays"] != float64(settings.ErasureGraceDays) {
		t.Fatalf("a refused change changed the settings: %v", got)
	}
	do("settings after the refusal", chromedp.Navigate(s.base+"/console/settings"), chromedp.WaitVisible(chromedp.CSS(`#save-settings`)))
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(`#s-msgret`))); v != "400" {
		t.Fatalf("after a refused change the page reads message retention %q", v)
	}

	// 5. Erasure: order a user's erasure, see it pending with its restore deadline, restore
	// it from the list; place a legal hold and lift it; a document erased with no grace is
	// certified, and its certificate is readable.
	do("order an erasure",
		chromedp.Navigate(s.base+"/console/erasure"),
		chromedp.WaitVisible(chromedp.CSS(`#e-id`)),
		chromedp.SetValue(chromedp.CSS(`#e-type`), "USER"),
		chromedp.SendKeys(chromedp.CSS(`#e-id`), erin),
		chromedp.SendKeys(chromedp.CSS(`#e-grace`), "7"),
		chromedp.Click(chromedp.CSS(`#request-erasure`)),
		chromedp.WaitVisible(chromedp.CSS(`#erasure-done`)))
	if got := text(`#erasure-done`); !strings.Contains(got, "Erasure ordered") {
		t.Fatalf("after ordering: %q", got)
	}
	erasureID := text(`#erasure-done code`)
	row := `#pending tr[data-erasure="` + erasureID + `"]`
	do("the erasure is pending", chromedp.WaitVisible(chromedp.CSS(row)))
	deadline7 := time.Now().UTC().Add(7 * 24 * time.Hour).Format("2006-01-02")
	if got := text(row); !strings.Contains(got, erin) || !strings.Contains(got, "USER") {
		t.Fatalf("the pending row: %q", got)
	}
	if got := text(row + ` .deadline`); !strings.Contains(got, deadline7) || !strings.Contains(got, "6 days 23 h left") && !strings.Contains(got, "7 days 0 h left") {
		t.Fatalf("the pending erasure's deadline shows %q, want %s", got, deadline7)
	}
	shot("erasure")
	do("the overview counts it", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS(`#pending-erasures`)))
	if got := text(`#pending-erasures`); got != "1" {
		t.Fatalf("the overview's pending erasures: %q", got)
	}
	do("restore it from the list",
		chromedp.Navigate(s.base+"/console/erasure"),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.Click(chromedp.CSS(row+` button.restore`)))
	if got := eventually(`#erasure-done`, func(s string) bool { return strings.Contains(s, "restored") }); !strings.Contains(got, "Erasure restored") {
		t.Fatalf("after restoring: %q", got)
	}
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('`+row+`').length`)); n != 0 {
		t.Fatal("the restored erasure is still listed as pending")
	}
	shot("erasure-restored")

	do("place a legal hold on the space",
		chromedp.SetValue(chromedp.CSS(`#h-type`), "SPACE"),
		chromedp.SendKeys(chromedp.CSS(`#h-id`), space),
		chromedp.SendKeys(chromedp.CSS(`#h-reason`), "Case 2026-17: records of the inquiry"),
		chromedp.Click(chromedp.CSS(`#place-hold`)))
	if got := eventually(`#erasure-done`, func(s string) bool { return strings.Contains(s, "hold placed") }); !strings.Contains(got, "Legal hold placed") {
		t.Fatalf("after placing a hold: %q", got)
	}
	holdID := text(`#erasure-done code`)
	hold := `#holds tr[data-hold="` + holdID + `"]`
	if got := text(hold); !strings.Contains(got, space) || !strings.Contains(got, "Case 2026-17") || !strings.Contains(got, "active") {
		t.Fatalf("the hold's row: %q", got)
	}
	shot("erasure-hold")
	do("lift it",
		chromedp.SendKeys(chromedp.CSS(hold+` .lift-reason`), "Inquiry closed"),
		chromedp.Click(chromedp.CSS(hold+` button.lift`)))
	if got := eventually(`#erasure-done`, func(s string) bool { return strings.Contains(s, "hold lifted") }); !strings.Contains(got, "Legal hold lifted") {
		t.Fatalf("after lifting the hold: %q", got)
	}
	if got := text(hold); !strings.Contains(got, "lifted") || !strings.Contains(got, "Inquiry closed") || strings.Contains(got, "active") {
		t.Fatalf("the lifted hold's row: %q", got)
	}

	do("erase a document with no grace",
		chromedp.SetValue(chromedp.CSS(`#e-type`), "DOCUMENT"),
		chromedp.SendKeys(chromedp.CSS(`#e-id`), doomed),
		chromedp.SendKeys(chromedp.CSS(`#e-grace`), "0"),
		chromedp.Click(chromedp.CSS(`#request-erasure`)))
	if got := eventually(`#erasure-done`, func(s string) bool { return strings.Contains(s, "ordered") }); !strings.Contains(got, "Erasure ordered") {
		t.Fatalf("after ordering the document's erasure: %q", got)
	}
	docErasure := text(`#erasure-done code`)
	// The window of 0 days ends when the (fake) clock moves on; the erasure manager then
	// destroys the keys and has the erasure certified.
	s.clock.Advance(time.Minute)
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		c := s.gql(t, admin, `query($id: ID!) { erasureCertificate(id: $id) { erasureId } }`, map[string]any{"id": docErasure})
		if c["erasureCertificate"] != nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the document's erasure was not certified within 60 s")
		}
	}
	do("read its certificate",
		chromedp.SendKeys(chromedp.CSS(`#c-id`), docErasure),
		chromedp.Click(chromedp.CSS(`#read-certificate`)),
		chromedp.WaitVisible(chromedp.CSS(`#certificate pre`)))
	if got := text(`#certificate`); !strings.Contains(got, "signed with the ledger key") || !strings.Contains(got, "arkiv.erasure-certificate.v1") || !strings.Contains(got, "DOCUMENT") {
		t.Fatalf("the certificate shows %q", got)
	}
	shot("erasure-certificate")

	// 6. Sign out: the console forgets the key.
	do("sign out",
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	if got := text(`#flash`); !strings.Contains(got, "signed out") {
		t.Fatalf("after signing out: %q", got)
	}
	do("the console after signing out", chromedp.Navigate(s.base+"/console/audit"), chromedp.WaitVisible(chromedp.CSS(`#apikey`)))

	// 7. A User is refused the audit log: the API's FORBIDDEN, shown plainly.
	signInWithKey(userKey)
	if got := text(`#verification`); !strings.Contains(got, "for Admins") {
		t.Fatalf("a User's overview shows the log's state: %q", got)
	}
	if got := text(`#audit-streams`); !strings.Contains(got, "for Admins") || strings.Contains(got, siem.URL) {
		t.Fatalf("a User's overview shows the audit streams: %q", got)
	}
	do("the audit log as a User",
		chromedp.Navigate(s.base+"/console/audit"),
		chromedp.WaitVisible(chromedp.CSS(`#justification`)),
		chromedp.SendKeys(chromedp.CSS(`#justification`), "Curious about the log"),
		chromedp.Click(chromedp.CSS(`#justify`)),
		chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if got := text(`#error`); !strings.Contains(got, "Refused") || !strings.Contains(got, "FORBIDDEN") {
		t.Fatalf("a User's audit page shows %q", got)
	}
	shot("audit-forbidden")
	// A User sees the settings read-only; a save forced past the disabled form is the API's
	// FORBIDDEN, shown plainly, and changes nothing.
	do("the settings as a User", chromedp.Navigate(s.base+"/console/settings"), chromedp.WaitVisible(chromedp.CSS(`#read-only`)))
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#save-settings').length`)); n != 0 {
		t.Fatal("a User's settings page has a save button")
	}
	if got := text(`#providers-refused`); !strings.Contains(got, "FORBIDDEN") {
		t.Fatalf("a User's identity providers show %q", got)
	}
	shot("settings-user")
	do("force a save as a User",
		chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector('#settings-form'); f.querySelector('fieldset').disabled = false;
			f.querySelector('#s-msgret').value = '30'; f.submit(); })()`),
		chromedp.WaitVisible(chromedp.CSS(`#settings-refused`)))
	if got := text(`#settings-refused`); !strings.Contains(got, "FORBIDDEN") {
		t.Fatalf("a User's forced save shows %q", got)
	}
	if got := readBack(); got["defaultMessageRetentionDays"] != float64(400) {
		t.Fatalf("a User's forced save changed the settings: %v", got)
	}
	do("sign out the User", chromedp.Click(chromedp.CSS(`#sign-out`)), chromedp.WaitVisible(chromedp.CSS(`#flash`)))

	// 8. A local account's session ends visibly once the idle timeout has passed.
	do("sign in with a local account",
		chromedp.Navigate(s.base+"/console/sign-in"),
		chromedp.WaitVisible(chromedp.CSS(`#org`)),
		chromedp.SendKeys(chromedp.CSS(`#org`), boot.OrganizationID),
		chromedp.SendKeys(chromedp.CSS(`#login`), "uma"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#safeguards`)))
	if got := text(`#who`); !strings.Contains(got, "Uma User") {
		t.Fatalf("signed in with a password as %q", got)
	}
	s.clock.Advance(time.Duration(settings.SessionIdleTimeoutMinutes+1) * time.Minute)
	do("the console after the idle timeout",
		chromedp.Navigate(s.base+"/console/access"),
		chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	if got := text(`#flash`); !strings.Contains(got, "session has ended") {
		t.Fatalf("after the idle timeout: %q", got)
	}
	shot("session-ended")

	// 9. Where the organisation requires MFA, a password sign-in is refused, and says why.
	strict := settings
	strict.MFARequired = true
	res, err := s.p.App.ChangeOrganizationSettings.Handle(ctx, usecase.ChangeOrganizationSettings{
		Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: boot.AdminUserID}, Settings: strict})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, res.Position)
	do("sign in with a password where MFA is required",
		chromedp.SendKeys(chromedp.CSS(`#org`), boot.OrganizationID),
		chromedp.SendKeys(chromedp.CSS(`#login`), "uma"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if got := text(`#error`); !strings.Contains(got, "multi-factor authentication required") {
		t.Fatalf("a password sign-in where MFA is required shows %q", got)
	}
	shot("sign-in-mfa-refused")

	stopConsole()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrors) > 0 {
		t.Fatalf("the browser reported errors: %v", consoleErrors)
	}
	if len(foreign) > 0 {
		t.Fatalf("the console fetched from outside the server: %v", foreign)
	}
}

// consoleGet fetches a console URL with a session cookie and returns the body and status.
func consoleGet(t *testing.T, url string, session *http.Cookie) (string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.AddCookie(session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}
