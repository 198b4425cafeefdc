package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/google/uuid"
)

// embedServer is an OpenAI-compatible embeddings endpoint on the loopback that keeps every
// text it receives.
type embedServer struct {
	mu    sync.Mutex
	texts []string
}

func (s *embedServer) received(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.texts {
		if strings.Contains(t, sub) {
			return true
		}
	}
	return false
}

func newEmbedServer(t *testing.T) (*embedServer, string) {
	s := &embedServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.texts = append(s.texts, req.Input...)
		s.mu.Unlock()
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i, in := range req.Input {
			data = append(data, item{Index: i, Embedding: []float32{float32(len(in)%7) + 1, 1, 1}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// TestExternalEmbeddingsObeyTheModelPolicy: with an external embedder hosted in the US, a
// Public space's chunks are embedded and the call recorded without its text; a Restricted
// space's chunks never reach the embedder, the refusal is recorded, and a question asked
// there is refused before it is embedded.
func TestExternalEmbeddingsObeyTheModelPolicy(t *testing.T) {
	srv, url := newEmbedServer(t)
	e := startPlatform(t, "EmbedPolicy", func(c *app.Config) {
		catalog, err := domain.NewModelCatalog([]domain.CatalogEntry{
			{ID: "offline", Endpoint: domain.OfflineEndpoint, Region: domain.RegionSE},
			{ID: "emb-us", Endpoint: url + "/v1", Region: domain.RegionUS},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Models = llm.NewRouter(llm.Config{}, nil).WithCatalog(catalog, nil)
		c.Embeddings = embedding.Config{Kind: "openai", URL: url, Model: "test-embed", ModelID: "emb-us", Dimensions: 3}
	})
	a, ctx := e.p.App, e.ctx
	b := must[commands.BootstrapResult](t)(a.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Kommun E", AdminEmail: "dpo@kommun-e.se", AdminName: "DPO"}))
	admin := b.AdminUserID
	s := domain.DefaultOrganizationSettings()
	s.EUOnly = false
	s.Models = []domain.AllowedModel{
		{ID: "offline", Endpoint: domain.OfflineEndpoint, Region: domain.RegionSE, MaxClassification: domain.ClassRestricted},
		{ID: "emb-us", Endpoint: url + "/v1", Region: domain.RegionUS, MaxClassification: domain.ClassRestricted},
	}
	must[commands.Result](t)(a.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: meta(admin), Settings: s}))
	spaces := map[domain.Classification]string{}
	assistants := map[domain.Classification]string{}
	for _, class := range []domain.Classification{domain.ClassPublic, domain.ClassRestricted} {
		sp := must[commands.Result](t)(a.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: meta(admin), Name: "Rum " + string(class), Classification: class})).ID
		must[commands.Result](t)(a.EnableSpaceModels.Handle(ctx, commands.EnableSpaceModels{Meta: meta(admin), SpaceID: sp, Models: []domain.ModelID{"offline"}}))
		assistants[class] = must[commands.Result](t)(a.CreateAssistant.Handle(ctx, commands.CreateAssistant{Meta: meta(admin), SpaceID: sp,
			Spec: domain.AssistantSpec{Name: "Hjälpen", Model: "offline"}})).ID
		spaces[class] = sp
	}
	pubDoc := must[commands.Result](t)(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(admin), SpaceID: spaces[domain.ClassPublic],
		Title: "Öppet", ContentType: "text/plain", Text: "offentlig-kanarie om parkering och snöröjning."})).ID
	resDoc := must[commands.Result](t)(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(admin), SpaceID: spaces[domain.ClassRestricted],
		Title: "Hemligt", ContentType: "text/plain", Text: "hemlig-kanarie om skyddade personuppgifter."})).ID

	// Both documents are seen by the index: one embedded, one refused, each recorded.
	events := func() map[string]domain.EmbeddingRecorded {
		recs, err := e.p.Store.ReadAll(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]domain.EmbeddingRecorded{}
		for _, r := range recs {
			if r.Type != (domain.EmbeddingRecorded{}).EventName() {
				continue
			}
			if bytes.Contains(r.Data, []byte("kanarie")) {
				t.Errorf("a recorded embedding call holds its text: %s", r.Data)
			}
			var ev domain.EmbeddingRecorded
			if err := json.Unmarshal(r.Data, &ev); err != nil {
				t.Fatal(err)
			}
			out[ev.DocumentID+"/"+ev.Purpose+"/"+ev.Outcome] = ev
		}
		return out
	}
	var got map[string]domain.EmbeddingRecorded
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = events()
		_, ok1 := got[pubDoc+"/index/OK"]
		_, ok2 := got[resDoc+"/index/REFUSED"]
		if ok1 && ok2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded embedding calls: %v", got)
		}
	}
	ok, refused := got[pubDoc+"/index/OK"], got[resDoc+"/index/REFUSED"]
	if ok.Model != "emb-us" || ok.Region != domain.RegionUS || ok.Texts == 0 || ok.Chars == 0 || len(ok.TextSHA256) != 64 || ok.SpaceID != spaces[domain.ClassPublic] {
		t.Errorf("recorded call %+v", ok)
	}
	if !strings.Contains(refused.Error, "never sees data classified RESTRICTED") || refused.SpaceID != spaces[domain.ClassRestricted] {
		t.Errorf("recorded refusal %+v", refused)
	}
	if !srv.received("offentlig-kanarie") {
		t.Error("the Public space's chunks never reached the embedder")
	}
	if srv.received("hemlig-kanarie") {
		t.Fatal("the Restricted space's chunks reached the US-hosted embedder")
	}

	// The audit log shows the refusal as denied, on the space.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var outcome, target string
		err := e.p.Pool.QueryRow(ctx, `SELECT outcome, coalesce(target_id, '') FROM audit_log WHERE action = $1 AND space_id = $2`,
			(domain.EmbeddingRecorded{}).EventName(), spaces[domain.ClassRestricted]).Scan(&outcome, &target)
		if err == nil && outcome == "denied" && target == spaces[domain.ClassRestricted] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log of the refusal: %q %q %v", outcome, target, err)
		}
	}

	// A question in the Restricted space is refused before it is embedded.
	conv := must[commands.Result](t)(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(admin), AssistantID: assistants[domain.ClassRestricted]})).ID
	if _, err := a.Ask.Handle(ctx, commands.Ask{Meta: meta(admin), ConversationID: conv, Text: "fråga-kanarie om skyddat?"}); !domain.Is(domain.KindForbidden, err) {
		t.Errorf("a question in the Restricted space: %v, want FORBIDDEN", err)
	}
	if srv.received("fråga-kanarie") {
		t.Error("the Restricted space's question reached the US-hosted embedder")
	}
	// In the Public space the question is embedded and recorded.
	pconv := must[commands.Result](t)(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(admin), AssistantID: assistants[domain.ClassPublic]})).ID
	if _, err := a.Ask.Handle(ctx, commands.Ask{Meta: meta(admin), ConversationID: pconv, Text: "öppen-fråga om parkering?"}); err != nil {
		t.Fatalf("a question in the Public space: %v", err)
	}
	if _, ok := events()["/query/OK"]; !ok || !srv.received("öppen-fråga") {
		t.Error("the Public space's question was not embedded and recorded")
	}
}
