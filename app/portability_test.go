package app_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/portability"
)

// platformEnv is a platform run as `arkiv serve` runs it, with a GraphQL client.
type platformEnv struct {
	t   *testing.T
	ctx context.Context
	p   *app.Platform
	url string
}

func startPlatform(t *testing.T, class string, tweak func(*app.Config)) *platformEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = es.Close(sctx)
	})
	catalog, err := domain.NewModelCatalog([]domain.CatalogEntry{{ID: "offline", Endpoint: domain.OfflineEndpoint, Region: domain.RegionSE}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		PGURL: pgtest.NewDatabase(t), KeystoreURL: pgtest.NewDatabase(t), ESDBURL: es.ConnectionString(),
		WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"), SearchClass: weaviatetest.ClassName(t, class),
		KEKFile: filepath.Join(t.TempDir(), "kek.json"), LoginKey: bytes.Repeat([]byte{7}, 32), Projections: true, Version: "test",
		Models: llm.NewRouter(llm.Config{}, nil).WithCatalog(catalog, nil),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := app.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; p.Close() })
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return &platformEnv{t: t, ctx: ctx, p: p, url: srv.URL}
}

// gql posts a GraphQL request with token and returns its data and errors' codes.
func (e *platformEnv) gql(token, query string, vars map[string]any) (map[string]any, []string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	var codes []string
	for _, er := range out.Errors {
		c, _ := er.Extensions["code"].(string)
		codes = append(codes, c+": "+er.Message)
	}
	return out.Data, codes
}

// waitKey waits until the API accepts a newly created key (the auth read model has it).
func (e *platformEnv) waitKey(token string) {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, errs := e.gql(token, `{ me { id } }`, nil); len(errs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the key is never accepted")
		}
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func meta(actor string) commands.Meta {
	return commands.Meta{CommandID: uuid.NewString(), ActorID: actor}
}

// subjectWorld is an organisation with a person (Ulla) who has something in every section
// of a subject export, each marked with a canary, and a colleague (Vera) whose own data
// must not appear in Ulla's export.
type subjectWorld struct {
	org, admin, adminKey string
	ulla, vera, ullaKey  string
	space, assistant     string
	canaries             map[string]string
	veraCanary           string
}

func seedSubjectWorld(t *testing.T, e *platformEnv) *subjectWorld {
	t.Helper()
	a, ctx := e.p.App, e.ctx
	b := must[commands.BootstrapResult](t)(a.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Kommun S", AdminEmail: "dpo@kommun-s.se", AdminName: "DPO"}))
	w := &subjectWorld{org: b.OrganizationID, admin: b.AdminUserID, adminKey: b.APIKey, canaries: map[string]string{
		"profile": "Ulla Kanariefågel", "memberships": "Socialtjänsten Kanarie", "conversations": "", "messages": "kanarie-meddelande-17",
		"documents": "Kanarierapport 2026", "apiKeys": "", "logins": "", "modelCalls": "kanarie-meddelande-17", "accessedBy": ""}}
	s := domain.DefaultOrganizationSettings()
	s.Models = []domain.AllowedModel{{ID: "offline", Endpoint: domain.OfflineEndpoint, Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	must[commands.Result](t)(a.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: meta(w.admin), Settings: s}))
	w.ulla = must[commands.Result](t)(a.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: meta(w.admin), Email: "ulla@kommun-s.se",
		Name: w.canaries["profile"], Role: domain.OrgRoleUser})).ID
	w.vera = must[commands.Result](t)(a.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: meta(w.admin), Email: "vera@kommun-s.se",
		Name: "Vera Annan", Role: domain.OrgRoleUser})).ID
	w.space = must[commands.Result](t)(a.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: meta(w.admin), Name: w.canaries["memberships"],
		Classification: domain.ClassInternal})).ID
	must[commands.Result](t)(a.EnableSpaceModels.Handle(ctx, commands.EnableSpaceModels{Meta: meta(w.admin), SpaceID: w.space, Models: []domain.ModelID{"offline"}}))
	w.assistant = must[commands.Result](t)(a.CreateAssistant.Handle(ctx, commands.CreateAssistant{Meta: meta(w.admin), SpaceID: w.space,
		Spec: domain.AssistantSpec{Name: "Hjälpen", Instructions: "Svara kort.", Model: "offline", LogModelPayloads: true}})).ID
	for _, u := range []string{w.ulla, w.vera} {
		must[commands.Result](t)(a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(w.admin), SpaceID: w.space, UserID: u, Role: domain.SpaceRoleEditor}))
	}
	must[commands.Result](t)(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(w.ulla), SpaceID: w.space,
		Title: w.canaries["documents"], ContentType: "text/plain", Text: "Rapporten handlar om fåglar i gruvor."}))
	conv := must[commands.Result](t)(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(w.ulla), AssistantID: w.assistant})).ID
	w.canaries["conversations"] = conv
	must[commands.AskResult](t)(a.Ask.Handle(ctx, commands.Ask{Meta: meta(w.ulla), ConversationID: conv, Text: "Vad gäller för " + w.canaries["messages"] + "?"}))
	// Vera's own conversation and message.
	w.veraCanary = "vera-egen-hemlighet-42"
	vconv := must[commands.Result](t)(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(w.vera), AssistantID: w.assistant})).ID
	must[commands.Result](t)(a.SendMessage.Handle(ctx, commands.SendMessage{Meta: meta(w.vera), ConversationID: vconv, Text: w.veraCanary}))
	key := must[commands.APIKeyResult](t)(a.CreateAPIKey.Handle(ctx, commands.CreateAPIKey{Meta: meta(w.admin), OwnerKind: domain.KeyOwnerUser, OwnerID: w.ulla}))
	w.canaries["apiKeys"], w.ullaKey = key.KeyID, key.Secret
	w.canaries["logins"] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	must[commands.Result](t)(a.RecordLogin.Handle(ctx, commands.RecordLogin{Meta: meta(domain.SystemActor), OrganizationID: w.org, UserID: w.ulla,
		LoginDigest: strings.Repeat("ab", 32), RemoteIPDigest: w.canaries["logins"]}))
	// The Admin changes Ulla's role: an entry about her made by someone else.
	must[commands.Result](t)(a.ChangeUserRole.Handle(ctx, commands.ChangeUserRole{Meta: meta(w.admin), UserID: w.ulla, Role: domain.OrgRoleCreator}))
	w.canaries["accessedBy"] = w.admin
	return w
}

// TestSubjectExportOverGraphQL: an Admin's exportSubjectData for Ulla holds every section with
// its canary (decrypted), nothing of Vera's; it opens and answers a case visible in
// subjectRequests and is recorded; Ulla may export herself, Vera may not export Ulla, and an
// Admin of another organisation is refused.
func TestSubjectExportOverGraphQL(t *testing.T) {
	e := startPlatform(t, "Subject", nil)
	w := seedSubjectWorld(t, e)
	const exportQ = `mutation($u: ID!) { exportSubjectData(userId: $u) { requestId userId records archiveSha256 fileName archive } }`
	data, errs := e.gql(w.adminKey, exportQ, map[string]any{"u": w.ulla})
	if len(errs) > 0 {
		t.Fatalf("exportSubjectData: %v", errs)
	}
	ex := data["exportSubjectData"].(map[string]any)
	archive, err := base64.StdEncoding.DecodeString(ex["archive"].(string))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		r, _ := f.Open()
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	for _, name := range append([]string{"subject.json", "schema.json"}, portability.Tables()...) {
		if len(files[name]) == 0 {
			t.Errorf("the archive lacks %s", name)
		}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(files["subject.json"], &doc); err != nil {
		t.Fatal(err)
	}
	for section, canary := range w.canaries {
		var recs []portability.Record
		if err := json.Unmarshal(doc[section], &recs); err != nil || len(recs) == 0 {
			t.Errorf("section %s is empty (%v)", section, err)
			continue
		}
		if !bytes.Contains(doc[section], []byte(canary)) {
			t.Errorf("section %s lacks its canary %q: %s", section, canary, doc[section])
		}
	}
	all := string(archive) + string(files["subject.json"])
	for _, csvName := range portability.Tables() {
		all += string(files[csvName])
	}
	if strings.Contains(all, w.veraCanary) || strings.Contains(all, "Vera Annan") {
		t.Error("Ulla's export holds Vera's data")
	}
	if strings.Contains(all, "ak1.") {
		t.Error("the export holds an encrypted envelope")
	}
	if !strings.Contains(string(files["messages.csv"]), w.canaries["messages"]) || !strings.Contains(string(files["profile.csv"]), w.canaries["profile"]) {
		t.Error("the CSV tables lack the canaries")
	}

	// The case is answered and visible to Admins.
	reqID := ex["requestId"].(string)
	var cases []any
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		data, errs = e.gql(w.adminKey, `{ subjectRequests { id userId kind dueAt receivedAt overdue fulfilledAt archiveSha256 } }`, nil)
		if len(errs) > 0 {
			t.Fatalf("subjectRequests: %v", errs)
		}
		cases = data["subjectRequests"].([]any)
		if len(cases) == 1 && cases[0].(map[string]any)["fulfilledAt"] != nil || time.Now().After(deadline) {
			break
		}
	}
	if len(cases) != 1 {
		t.Fatalf("cases %v", cases)
	}
	c := cases[0].(map[string]any)
	recv, _ := time.Parse(time.RFC3339Nano, c["receivedAt"].(string))
	due, _ := time.Parse(time.RFC3339Nano, c["dueAt"].(string))
	if c["id"] != reqID || c["userId"] != w.ulla || c["kind"] != "ACCESS" || c["overdue"] != false ||
		c["archiveSha256"] != ex["archiveSha256"] || !due.Equal(recv.AddDate(0, 1, 0)) {
		t.Errorf("case %v", c)
	}
	// Recorded in the log.
	recorded := false
	recs, err := e.p.Store.ReadAll(e.ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Type == (domain.SubjectDataExported{}).EventName() && bytes.Contains(r.Data, []byte(ex["archiveSha256"].(string))) {
			recorded = true
		}
	}
	if !recorded {
		t.Error("the export is not recorded")
	}

	// Ulla exports herself; Vera may not export Ulla; another organisation's Admin is refused.
	e.waitKey(w.ullaKey)
	if _, errs := e.gql(w.ullaKey, exportQ, map[string]any{"u": w.ulla}); len(errs) > 0 {
		t.Errorf("Ulla exporting herself: %v", errs)
	}
	veraKey := must[commands.APIKeyResult](t)(e.p.App.CreateAPIKey.Handle(e.ctx, commands.CreateAPIKey{Meta: meta(w.admin), OwnerKind: domain.KeyOwnerUser, OwnerID: w.vera}))
	e.waitKey(veraKey.Secret)
	if _, errs := e.gql(veraKey.Secret, exportQ, map[string]any{"u": w.ulla}); len(errs) != 1 || !strings.HasPrefix(errs[0], "FORBIDDEN") {
		t.Errorf("Vera exporting Ulla: %v, want FORBIDDEN", errs)
	}
	other := must[commands.BootstrapResult](t)(e.p.App.Bootstrap.Handle(e.ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Kommun T", AdminEmail: "dpo@kommun-t.se", AdminName: "Other DPO"}))
	e.waitKey(other.APIKey)
	data, errs = e.gql(other.APIKey, exportQ, map[string]any{"u": w.ulla})
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "FORBIDDEN") || data["exportSubjectData"] != nil {
		t.Errorf("another organisation's Admin: %v %v, want FORBIDDEN", data, errs)
	}
	data, _ = e.gql(other.APIKey, `{ subjectRequests { id } }`, nil)
	if got := data["subjectRequests"].([]any); len(got) != 0 {
		t.Errorf("another organisation sees the cases: %v", got)
	}
}

// TestOrganizationExportRoundTrips: exportOrganization's zip, fetched in pieces, verifies
// against its manifest; parsed back, its counts per event type and every event's payload
// hash equal the organisation's events in the log; the content is decrypted; nothing of
// another organisation is in it; a changed byte fails the verification; another
// organisation's Admin cannot read the job.
func TestOrganizationExportRoundTrips(t *testing.T) {
	e := startPlatform(t, "OrgExport", nil)
	w := seedSubjectWorld(t, e)
	a, ctx := e.p.App, e.ctx
	other := must[commands.BootstrapResult](t)(a.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Kommun Hemlig", AdminEmail: "dpo@hemlig.se", AdminName: "Hemlig DPO"}))
	must[commands.Result](t)(a.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: meta(other.AdminUserID), Email: "x@hemlig.se",
		Name: "Tvärgräns Kanarie", Role: domain.OrgRoleUser}))

	data, errs := e.gql(w.adminKey, `mutation { exportOrganization { id status chunkBytes } }`, nil)
	if len(errs) > 0 {
		t.Fatalf("exportOrganization: %v", errs)
	}
	id := data["exportOrganization"].(map[string]any)["id"].(string)
	var job map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		data, errs := e.gql(w.adminKey, `query($id: ID!) { organizationExport(id: $id) { status progress events manifestSha256 fileName sizeBytes chunks error } }`,
			map[string]any{"id": id})
		if len(errs) > 0 {
			t.Fatalf("organizationExport: %v", errs)
		}
		job = data["organizationExport"].(map[string]any)
		if job["status"] != "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the export did not finish")
		}
	}
	if job["status"] != "DONE" {
		t.Fatalf("export: %v", job)
	}
	var zipped []byte
	for i := 0; i < int(job["chunks"].(float64)); i++ {
		data, errs := e.gql(w.adminKey, `query($id: ID!, $i: Int!) { organizationExportChunk(id: $id, index: $i) { index data last } }`,
			map[string]any{"id": id, "i": i})
		if len(errs) > 0 {
			t.Fatalf("chunk %d: %v", i, errs)
		}
		c := data["organizationExportChunk"].(map[string]any)
		b, err := base64.StdEncoding.DecodeString(c["data"].(string))
		if err != nil {
			t.Fatal(err)
		}
		zipped = append(zipped, b...)
	}
	if float64(len(zipped)) != job["sizeBytes"].(float64) {
		t.Fatalf("fetched %d bytes, the job says %v", len(zipped), job["sizeBytes"])
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := portability.VerifyOrganization(zr)
	if err != nil {
		t.Fatalf("the export does not verify: %v", err)
	}

	// Against the log: the organisation's events by type, and each one's payload hash.
	recs, err := e.p.Store.ReadAll(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	hashes := map[string]string{}
	var exportedAt uint64
	for _, r := range recs {
		var md domain.Metadata
		_ = json.Unmarshal(r.Metadata, &md)
		if md.Organization != w.org || r.Position > m.LastPosition {
			continue
		}
		want[r.Type]++
		hashes[r.EventID] = portability.DataSHA256(r.Data)
		exportedAt = r.Position
	}
	if m.LastPosition != exportedAt || int(m.Events) != len(hashes) || len(m.Types) != len(want) {
		t.Errorf("manifest: %d events up to %d, %d types; the log: %d up to %d, %d types", m.Events, m.LastPosition, len(m.Types), len(hashes), exportedAt, len(want))
	}
	for typ, n := range want {
		if m.Types[typ] != n {
			t.Errorf("type %s: %d exported, %d in the log", typ, m.Types[typ], n)
		}
	}
	read := func(name string) []byte {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return b
	}
	sections := 0
	for _, name := range portability.Sections {
		for _, line := range bytes.Split(bytes.TrimSpace(read(name)), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var rec struct {
				EventID    string `json:"eventId"`
				Type       string `json:"type"`
				DataSHA256 string `json:"dataSha256"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			if hashes[rec.EventID] != rec.DataSHA256 {
				t.Errorf("%s: event %s hash %s, the log's %s", name, rec.EventID, rec.DataSHA256, hashes[rec.EventID])
			}
			if name != portability.FileAudit && portability.SectionOf(rec.Type) != name {
				t.Errorf("%s holds a %s", name, rec.Type)
			}
			if name != portability.FileAudit {
				sections++
			}
		}
	}
	if sections != len(hashes) {
		t.Errorf("%d records in the sections, %d events", sections, len(hashes))
	}
	docs, msgs := string(read(portability.FileDocuments)), string(read(portability.FileMessages))
	if !strings.Contains(docs, "fåglar i gruvor") || !strings.Contains(docs, w.canaries["documents"]) || !strings.Contains(msgs, w.canaries["messages"]) ||
		!strings.Contains(string(read(portability.FileMembers)), w.canaries["profile"]) {
		t.Error("the export lacks decrypted content")
	}
	if bytes.Contains(zipped, []byte("Tvärgräns Kanarie")) || strings.Contains(docs+msgs, "ak1.") {
		t.Error("the export holds another organisation's data or an envelope")
	}
	if strings.Contains(string(read(portability.FileAPIKeys)), `"hash"`) {
		t.Error("the export holds an API key's hash")
	}

	// Tamper: a changed byte in a section fails the verification.
	dir := t.TempDir()
	for _, f := range zr.File {
		b := read(f.Name)
		if f.Name == portability.FileMessages {
			b = bytes.Replace(b, []byte(w.canaries["messages"]), []byte("kanarie-meddelande-18"), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := portability.VerifyOrganization(os.DirFS(dir)); !domain.Is(domain.KindInvalid, err) || !strings.Contains(err.Error(), portability.FileMessages) {
		t.Errorf("a tampered export verifies: %v", err)
	}

	// Recorded; another organisation's Admin sees nothing of the job.
	recorded := false
	recs, _ = e.p.Store.ReadAll(ctx, 0, 1<<20)
	for _, r := range recs {
		if r.Type == (domain.OrganizationExported{}).EventName() && bytes.Contains(r.Data, []byte(job["manifestSha256"].(string))) {
			recorded = true
		}
	}
	if !recorded {
		t.Error("the export is not recorded")
	}
	e.waitKey(other.APIKey)
	data, _ = e.gql(other.APIKey, `query($id: ID!) { organizationExport(id: $id) { status } organizationExportChunk(id: $id, index: 0) { data } }`, map[string]any{"id": id})
	if data["organizationExport"] != nil || data["organizationExportChunk"] != nil {
		t.Errorf("another organisation reads the export: %v", data)
	}
}
