package retrieval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/retrieval"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/google/uuid"
)

// modelServer is an OpenAI-compatible server on loopback that records every request body.
type modelServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	fail   atomic.Bool
}

func newModelServer(t *testing.T) *modelServer {
	s := &modelServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
		if s.fail.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{"The", " budget", " is", " known", " [1]."} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", tok)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":321,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func (s *modelServer) last() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[len(s.bodies)-1]
}

type clock struct{}

func (clock) Now() time.Time { return time.Now() }

type ids struct{}

func (ids) NewID() string { return uuid.NewString() }

type env struct {
	t      *testing.T
	ctx    context.Context
	es     *eventstoretest.Env
	kr     *keyring.Keyring
	codec  *keyring.EventCodec
	reg    *domain.Registry
	app    *commands.App
	ask    commands.Handler[commands.Ask, commands.AskResult]
	ix     *search.Index
	emb    embedding.Provider
	ret    *retrieval.Retriever
	eu, us *modelServer
	admin  string
	org    string
}

func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%v (%s)", err, domain.KindOf(err))
		}
		return v
	}
}

func m(actor string) commands.Meta { return commands.Meta{CommandID: uuid.NewString(), ActorID: actor} }

func (e *env) settings(euOnly bool, usMax domain.Classification, withUS bool) domain.OrganizationSettings {
	s := domain.DefaultOrganizationSettings()
	s.EUOnly = euOnly
	s.Models = []domain.AllowedModel{
		{ID: "eu-model", Endpoint: e.eu.URL, Region: domain.RegionEU, MaxClassification: domain.ClassRestricted},
		{ID: llm.OfflineModel, Endpoint: llm.OfflineEndpoint, Region: domain.RegionOnPrem, MaxClassification: domain.ClassRestricted},
	}
	if withUS {
		s.Models = append(s.Models, domain.AllowedModel{ID: "us-model", Endpoint: e.us.URL, Region: domain.RegionUS, MaxClassification: usMax})
	}
	return s
}

func setup(t *testing.T) *env {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, es: eventstoretest.New(t), reg: domain.NewRegistry(), eu: newModelServer(t), us: newModelServer(t)}
	if err := domain.RegisterEvents(e.reg); err != nil {
		t.Fatal(err)
	}
	kek := must(keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json")))(t)
	e.kr = must(keyring.Open(ctx, pgtest.NewPool(t), kek, domain.SystemClock{}, keyring.WithoutListener()))(t)
	t.Cleanup(e.kr.Close)
	e.codec = keyring.NewCodec(e.kr)
	e.ix = must(search.New(ctx, search.Config{URL: weaviatetest.URL(t), Class: weaviatetest.ClassName(t, "Ask")}))(t)
	e.emb = embedding.NewHashing(256)
	e.ret = retrieval.New(e.ix, e.emb)
	router := llm.NewRouter(llm.Config{MaxAttempts: 2, BackoffInitial: time.Millisecond, Timeout: 5 * time.Second}, nil).
		WithCatalog(must(domain.NewModelCatalog([]domain.CatalogEntry{{ID: "eu-model", Endpoint: e.eu.URL, Region: domain.RegionEU},
			{ID: "us-model", Endpoint: e.us.URL, Region: domain.RegionUS},
			{ID: llm.OfflineModel, Endpoint: llm.OfflineEndpoint, Region: domain.RegionOnPrem}}))(t), nil)
	deps := commands.Deps{Store: e.es.Store, Codec: e.codec, Clock: clock{}, IDs: ids{}, Events: e.reg, Retriever: e.ret, Models: router}
	e.app = must(commands.NewApp(deps, slog.New(slog.DiscardHandler)))(t)
	e.ask = e.app.Ask
	b := must(e.app.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun",
		AdminEmail: "admin@kommun.example", AdminName: "Admin"}))(t)
	e.admin, e.org = b.AdminUserID, b.OrganizationID
	must(e.app.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: m(e.admin),
		Settings: e.settings(false, domain.ClassConfidential, true)}))(t)
	return e
}

// space creates a space with the models enabled, and indexes documents into its tenant as
// the index projection would: the document is ingested through the command, its text
// chunked, embedded and upserted.
func (e *env) space(class domain.Classification, models []domain.ModelID, docs map[string]string) (string, map[string]string) {
	t := e.t
	sp := must(e.app.CreateSpace.Handle(e.ctx, commands.CreateSpace{Meta: m(e.admin), Name: "Space", Classification: class}))(t).ID
	must(e.app.EnableSpaceModels.Handle(e.ctx, commands.EnableSpaceModels{Meta: m(e.admin), SpaceID: sp, Models: models}))(t)
	ids := map[string]string{}
	for title, text := range docs {
		id := must(e.app.IngestDocument.Handle(e.ctx, commands.IngestDocument{Meta: m(e.admin), SpaceID: sp, Title: title,
			ContentType: "text/plain", Text: text}))(t).ID
		ids[title] = id
		parts := search.Chunker{Size: 300, Overlap: 30}.Split(text)
		vecs := must(e.emb.Embed(e.ctx, parts))(t)
		chunks := make([]search.Chunk, len(parts))
		for i, p := range parts {
			chunks[i] = search.Chunk{DocumentID: id, Index: i, Text: p, Vector: vecs[i]}
		}
		if err := e.ix.Upsert(e.ctx, sp, chunks); err != nil {
			t.Fatal(err)
		}
	}
	return sp, ids
}

func (e *env) conversation(space string, spec domain.AssistantSpec) string {
	a := must(e.app.CreateAssistant.Handle(e.ctx, commands.CreateAssistant{Meta: m(e.admin), SpaceID: space, Spec: spec}))(e.t).ID
	return must(e.app.StartConversation.Handle(e.ctx, commands.StartConversation{Meta: m(e.admin), AssistantID: a}))(e.t).ID
}

func (e *env) events(stream string) []domain.Event {
	recs, _, err := e.es.Store.Load(e.ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		p := must(e.reg.New(r.Type))(e.t)
		if err := e.codec.Decode(e.ctx, r.EventID, r.Data, p); err != nil {
			e.t.Fatal(err)
		}
		out[i] = must(domain.Deref(p))(e.t)
	}
	return out
}

func (e *env) invocation(conv, id string) domain.ModelInvocationRecorded {
	for _, ev := range e.events(domain.StreamPrefixConversation + conv) {
		if inv, ok := ev.(domain.ModelInvocationRecorded); ok && inv.InvocationID == id {
			return inv
		}
	}
	e.t.Fatalf("invocation %s not recorded", id)
	return domain.ModelInvocationRecorded{}
}

// userContent returns the user message the model received.
func userContent(t *testing.T, body []byte) string {
	var req struct {
		Messages []commands.ChatMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) != 2 {
		t.Fatalf("model request %s", body)
	}
	return req.Messages[1].Content
}

// excerptStats counts the excerpts in a user message and their characters.
func excerptStats(content string) (n, chars int) {
	for _, block := range strings.Split(content, "\n\n") {
		if strings.HasPrefix(block, "[") && strings.Contains(block, "] (document ") {
			n++
			_, text, _ := strings.Cut(block, "\n")
			chars += utf8.RuneCountInString(text)
		}
	}
	return n, chars
}

func longDoc(topic string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Section %d explains the %s budget for bridges and roads in year %d. ", i, topic, 2000+i)
	}
	return b.String()
}

func TestAskEndToEnd(t *testing.T) {
	e := setup(t)
	small := "The tiny memo says the bridges budget is secret-alpha."
	sp, docs := e.space(domain.ClassInternal, []domain.ModelID{"eu-model", "us-model", llm.OfflineModel},
		map[string]string{"plan": longDoc("municipal", 60), "memo": small})
	other, _ := e.space(domain.ClassInternal, []domain.ModelID{"eu-model"}, map[string]string{"foreign": "Other space: bridges budget foreign-omega."})
	_ = other

	t.Run("EU model: limits, exact payload, streaming, recorded exchange", func(t *testing.T) {
		conv := e.conversation(sp, domain.AssistantSpec{Name: "EU", Model: "eu-model", LogModelPayloads: true, MaxExcerpts: 4, MaxExcerptChars: 900})
		var streamed strings.Builder
		res := must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "What is the budget for bridges?",
			OnToken: func(d string) { streamed.WriteString(d) }}))(t)
		if e.eu.count() != 1 {
			t.Fatalf("EU server got %d requests", e.eu.count())
		}
		body := e.eu.last()
		content := userContent(t, body)
		n, chars := excerptStats(content)
		if n == 0 || n > 4 || chars > 900 || len(res.Excerpts) != n {
			t.Fatalf("%d excerpts, %d characters reached the model (limits 4 / 900); result has %d", n, chars, len(res.Excerpts))
		}
		if strings.Contains(content, "foreign-omega") || strings.Contains(content, small) {
			t.Fatal("another space's excerpt, or a whole document, reached the model")
		}
		if streamed.String() != "The budget is known [1]." || res.Reply != streamed.String() {
			t.Fatalf("streamed %q, reply %q", streamed.String(), res.Reply)
		}
		inv := e.invocation(conv, res.InvocationID)
		got, complete := inv.Request()
		if !complete || got != string(body) || inv.RequestSHA256 != domain.PayloadHash(string(body)) {
			t.Fatal("the recorded payload differs from what the server received")
		}
		if inv.Outcome != domain.OutcomeOK || inv.Region != domain.RegionEU || inv.PromptTokens != 321 || inv.CompletionTokens != 5 ||
			inv.UserID != e.admin || len(inv.Excerpts) != n || inv.Excerpts[0].ChunkID == "" || inv.ResponsePayload.Plain == "" {
			t.Fatalf("invocation %+v", inv)
		}
		evs := e.events(domain.StreamPrefixConversation + conv)
		if len(evs) != 4 {
			t.Fatalf("%d events, want started + message + invocation + reply", len(evs))
		}
		if r, ok := evs[3].(domain.AssistantReplyRecorded); !ok || r.Text.Plain != res.Reply || r.InReplyTo != res.MessageID {
			t.Fatalf("reply event %+v", evs[3])
		}
		// A retried command neither calls the model again nor records anything twice.
		again := must(e.ask.Handle(e.ctx, commands.Ask{Meta: commands.Meta{CommandID: "retry-" + conv, ActorID: e.admin}, ConversationID: conv, Text: "Again?"}))(t)
		before := e.eu.count()
		same := must(e.ask.Handle(e.ctx, commands.Ask{Meta: commands.Meta{CommandID: "retry-" + conv, ActorID: e.admin}, ConversationID: conv, Text: "Again?"}))(t)
		if e.eu.count() != before || same.Reply != again.Reply || same.MessageID != again.MessageID {
			t.Fatal("a retried ask called the model again")
		}
	})

	t.Run("US model gets the stricter limits", func(t *testing.T) {
		conv := e.conversation(sp, domain.AssistantSpec{Name: "US", Model: "us-model", LogModelPayloads: true, MaxExcerpts: 10, MaxExcerptChars: 8000})
		must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "What is the budget for bridges and roads?"}))(t)
		n, chars := excerptStats(userContent(t, e.us.last()))
		if n == 0 || n > domain.NonEUMaxExcerpts || chars > domain.NonEUMaxExcerptChars {
			t.Fatalf("US model got %d excerpts, %d characters", n, chars)
		}
	})

	t.Run("offline answerer cites the excerpts", func(t *testing.T) {
		conv := e.conversation(sp, domain.AssistantSpec{Name: "Offline", Model: llm.OfflineModel, LogModelPayloads: true})
		var tokens int
		res := must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "Which budget for bridges in year 2007?",
			OnToken: func(string) { tokens++ }}))(t)
		if !strings.Contains(res.Reply, "[1]") || !strings.Contains(res.Reply, "document "+docs["plan"]) || tokens < 5 {
			t.Fatalf("offline reply %q (%d tokens)", res.Reply, tokens)
		}
		if inv := e.invocation(conv, res.InvocationID); inv.Region != domain.RegionOnPrem || inv.Outcome != domain.OutcomeOK {
			t.Fatalf("offline invocation %+v", inv)
		}
	})

	t.Run("payload logging off keeps only the hash", func(t *testing.T) {
		conv := e.conversation(sp, domain.AssistantSpec{Name: "Quiet", Model: "eu-model"})
		res := must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "Budget for bridges?"}))(t)
		inv := e.invocation(conv, res.InvocationID)
		if inv.PayloadLogged || len(inv.RequestParts) != 0 || inv.ResponsePayload.Plain != "" || inv.RequestSHA256 != domain.PayloadHash(string(e.eu.last())) {
			t.Fatalf("unlogged invocation %+v", inv)
		}
	})

	t.Run("provider failure is recorded, nothing half-written", func(t *testing.T) {
		conv := e.conversation(sp, domain.AssistantSpec{Name: "Failing", Model: "eu-model", LogModelPayloads: true})
		e.eu.fail.Store(true)
		defer e.eu.fail.Store(false)
		before := e.eu.count()
		res, err := e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "Budget for bridges?"})
		if !domain.Is(domain.KindUnavailable, err) || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("failure returned %v", err)
		}
		if e.eu.count()-before != 2 {
			t.Fatalf("%d attempts, want 2 (the bound)", e.eu.count()-before)
		}
		evs := e.events(domain.StreamPrefixConversation + conv)
		inv, ok := evs[len(evs)-1].(domain.ModelInvocationRecorded)
		if len(evs) != 3 || !ok || inv.Outcome != domain.OutcomeError || inv.Attempts != 2 || strings.Contains(inv.Error, "502") || !strings.Contains(inv.Error, "did not answer") {
			t.Fatalf("after a failure the conversation holds %d events, last %+v", len(evs), evs[len(evs)-1])
		}
		if got, _ := inv.Request(); got != string(e.eu.last()) || res.InvocationID != inv.InvocationID {
			t.Fatal("the failed invocation's payload differs from what was sent")
		}
	})

	t.Run("erased document leaves retrieval and the readable invocation", func(t *testing.T) {
		doc := "Erasable notice: the harbour bridges budget is gamma-secret-figure for this district. " + longDoc("harbour", 3)
		sp2, ids := e.space(domain.ClassInternal, []domain.ModelID{"eu-model"}, map[string]string{"erasable": doc})
		conv := e.conversation(sp2, domain.AssistantSpec{Name: "E", Model: "eu-model", LogModelPayloads: true})
		res := must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "What is the harbour bridges budget?"}))(t)
		if !strings.Contains(string(e.eu.last()), "gamma-secret-figure") {
			t.Fatal("the document's excerpt did not reach the model")
		}
		// Erasure as the erasure process and the index projection do it.
		if err := e.kr.StartShredding(e.ctx, domain.DocumentSubject(ids["erasable"]), "test erasure", e.admin, 0); err != nil {
			t.Fatal(err)
		}
		if err := e.ix.DeleteDocument(e.ctx, sp2, ids["erasable"]); err != nil {
			t.Fatal(err)
		}
		cands := must(e.ret.Retrieve(e.ctx, sp2, "harbour bridges budget", 10))(t)
		if len(cands) != 0 {
			t.Fatalf("erased document still retrieved: %d candidates", len(cands))
		}
		inv := e.invocation(conv, res.InvocationID)
		got, complete := inv.Request()
		if complete || strings.Contains(got, "gamma-secret-figure") || !strings.Contains(got, domain.RedactedMarker) ||
			!strings.Contains(got, "What is the harbour bridges budget?") || !inv.ResponsePayload.Redacted {
			t.Fatalf("after erasure the readable payload is %q (complete %v)", got, complete)
		}
	})
}

func TestAskGovernance(t *testing.T) {
	e := setup(t)
	sp, _ := e.space(domain.ClassConfidential, []domain.ModelID{"eu-model", "us-model"}, map[string]string{"c": longDoc("confidential", 5)})
	conv := e.conversation(sp, domain.AssistantSpec{Name: "US", Model: "us-model", LogModelPayloads: true})

	// The organisation lowers the US model's clearance: it may no longer serve the space.
	must(e.app.ChangeOrganizationSettings.Handle(e.ctx, commands.ChangeOrganizationSettings{Meta: m(e.admin),
		Settings: e.settings(false, domain.ClassInternal, true)}))(t)
	cmd := m(e.admin)
	res, err := e.ask.Handle(e.ctx, commands.Ask{Meta: cmd, ConversationID: conv, Text: "What is in the budget?"})
	if !domain.Is(domain.KindForbidden, err) || !strings.Contains(err.Error(), "may not see data classified CONFIDENTIAL") {
		t.Fatalf("US model for a Confidential space: %v", err)
	}
	if e.us.count() != 0 {
		t.Fatal("the refused model was called")
	}
	if inv := e.invocation(conv, res.InvocationID); inv.Outcome != domain.OutcomeRefused || inv.PayloadLogged && len(inv.RequestParts) > 0 {
		t.Fatalf("refusal recorded as %+v", inv)
	}
	denied := false
	for _, ev := range e.events(domain.AccessStream(e.org)) {
		if d, ok := ev.(domain.AccessDenied); ok && d.Reason == domain.ReasonModelPolicy && d.Actor == e.admin {
			denied = true
		}
	}
	if !denied {
		t.Fatal("the refusal was not audited")
	}
	// Enabling it again in the Confidential space is refused too.
	if _, err := e.app.EnableSpaceModels.Handle(e.ctx, commands.EnableSpaceModels{Meta: m(e.admin), SpaceID: sp, Models: []domain.ModelID{"us-model"}}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("enabling a US model below the space's classification: %v", err)
	}

	// EU-only: the setting cannot be turned on with a US model listed; once on, the US
	// assistant is refused and the US endpoint is never reached.
	if _, err := e.app.ChangeOrganizationSettings.Handle(e.ctx, commands.ChangeOrganizationSettings{Meta: m(e.admin),
		Settings: e.settings(true, domain.ClassRestricted, true)}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("EU-only with a US model listed: %v", err)
	}
	must(e.app.ChangeOrganizationSettings.Handle(e.ctx, commands.ChangeOrganizationSettings{Meta: m(e.admin),
		Settings: e.settings(true, domain.ClassRestricted, false)}))(t)
	if _, err := e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: conv, Text: "And now?"}); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("EU-only organisation, US assistant: %v", err)
	}
	if e.us.count() != 0 {
		t.Fatal("an EU-only organisation reached a US endpoint")
	}
	// A non-member cannot ask at all.
	other := uuid.NewString()
	must(e.app.RegisterUser.Handle(e.ctx, commands.RegisterUser{Meta: m(e.admin), UserID: other, Email: "u@kommun.example", Name: "U", Role: domain.OrgRoleUser}))(t)
	if _, err := e.ask.Handle(e.ctx, commands.Ask{Meta: m(other), ConversationID: conv, Text: "Hello?"}); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("non-member asked: %v", err)
	}
}
