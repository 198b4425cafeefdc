package readmodels_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/retrieval"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
)

// The read side of model invocations, over exchanges recorded by the real Ask pipeline
// (retrieval over Weaviate, an OpenAI-compatible model on loopback). Moved here from
// infra/retrieval, which may not import the read side.

// modelServer is an OpenAI-compatible server on loopback that records every request body.
type modelServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newModelServer(t *testing.T) *modelServer {
	s := &modelServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, buf)
		s.mu.Unlock()
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

func (s *modelServer) last() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[len(s.bodies)-1]
}

type ids struct{}

func (ids) NewID() string { return uuid.NewString() }

// askEnv is a write side with the Ask pipeline: the embedded event store, the real keyring,
// the commands, a Weaviate class of its own and a model on loopback.
type askEnv struct {
	t     *testing.T
	ctx   context.Context
	es    *eventstoretest.Env
	kr    *keyring.Keyring
	codec *keyring.EventCodec
	reg   *domain.Registry
	app   *commands.App
	ask   commands.Handler[commands.Ask, commands.AskResult]
	ix    *search.Index
	emb   embedding.Provider
	eu    *modelServer
	admin string
	org   string
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

func setup(t *testing.T) *askEnv {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &askEnv{t: t, ctx: ctx, es: eventstoretest.New(t), reg: domain.NewRegistry(), eu: newModelServer(t)}
	if err := domain.RegisterEvents(e.reg); err != nil {
		t.Fatal(err)
	}
	kek := must(keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json")))(t)
	e.kr = must(keyring.Open(ctx, pgtest.NewPool(t), kek, domain.SystemClock{}, keyring.WithoutListener()))(t)
	t.Cleanup(e.kr.Close)
	e.codec = keyring.NewCodec(e.kr)
	e.ix = must(search.New(ctx, search.Config{URL: weaviatetest.URL(t), Class: weaviatetest.ClassName(t, "Inv")}))(t)
	e.emb = embedding.NewHashing(256)
	router := llm.NewRouter(llm.Config{MaxAttempts: 2, BackoffInitial: time.Millisecond, Timeout: 5 * time.Second}, nil).
		WithCatalog(must(domain.NewModelCatalog([]domain.CatalogEntry{{ID: "eu-model", Endpoint: e.eu.URL, Region: domain.RegionEU}}))(t), nil)
	deps := commands.Deps{Store: e.es.Store, Codec: e.codec, Clock: domain.SystemClock{}, IDs: ids{}, Events: e.reg,
		Retriever: retrieval.New(e.ix, e.emb), Models: router}
	e.app = must(commands.NewApp(deps, slog.New(slog.DiscardHandler)))(t)
	e.ask = e.app.Ask
	b := must(e.app.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun",
		AdminEmail: "admin@kommun.example", AdminName: "Admin"}))(t)
	e.admin, e.org = b.AdminUserID, b.OrganizationID
	s := domain.DefaultOrganizationSettings()
	s.EUOnly = false
	s.Models = []domain.AllowedModel{{ID: "eu-model", Endpoint: e.eu.URL, Region: domain.RegionEU, MaxClassification: domain.ClassRestricted}}
	must(e.app.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: m(e.admin), Settings: s}))(t)
	return e
}

// space creates a space with the models enabled, and indexes documents into its tenant as
// the index projection would.
func (e *askEnv) space(class domain.Classification, models []domain.ModelID, docs map[string]string) (string, map[string]string) {
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

func (e *askEnv) conversation(space string, spec domain.AssistantSpec) string {
	a := must(e.app.CreateAssistant.Handle(e.ctx, commands.CreateAssistant{Meta: m(e.admin), SpaceID: space, Spec: spec}))(e.t).ID
	return must(e.app.StartConversation.Handle(e.ctx, commands.StartConversation{Meta: m(e.admin), AssistantID: a}))(e.t).ID
}

func (e *askEnv) events(stream string) []domain.Event {
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

func longDoc(topic string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Section %d explains the %s budget for bridges and roads in year %d. ", i, topic, 2000+i)
	}
	return b.String()
}

// TestModelInvocationsReadSide projects recorded exchanges into model_invocations and reads
// them back as an Admin: filtered, decrypted at query time, with an erased document's text
// gone from the readable payload, and every read audited.
func TestModelInvocationsReadSide(t *testing.T) {
	e := setup(t)
	secret := "Delta-confidential-figure: the ferry bridges budget is 77 MSEK for the ferry district. "
	sp, ids := e.space(domain.ClassInternal, []domain.ModelID{"eu-model"}, map[string]string{"ferry": secret + longDoc("ferry", 4)})
	c1 := e.conversation(sp, domain.AssistantSpec{Name: "One", Model: "eu-model", LogModelPayloads: true})
	c2 := e.conversation(sp, domain.AssistantSpec{Name: "Two", Model: "eu-model"})
	r1 := must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: c1, Text: "What is the ferry bridges budget?"}))(t)
	sent := string(e.eu.last())
	must(e.ask.Handle(e.ctx, commands.Ask{Meta: m(e.admin), ConversationID: c2, Text: "Ferry budget?"}))(t)

	url := pgtest.NewDatabase(t)
	if err := postgres.Migrate(e.ctx, url); err != nil {
		t.Fatal(err)
	}
	pool := must(pgxpool.New(e.ctx, url))(t)
	t.Cleanup(pool.Close)
	quiet := slog.New(slog.DiscardHandler)
	log := eventlog.New(e.es.Store.Client(), esdbwatermill.Options{Logger: quiet})
	runner := must(engine.NewRunner(engine.Config{Pool: pool, Log: log, Projections: []engine.Projection{projections.NewModelInvocations()},
		Logger: quiet, BatchWait: 5 * time.Millisecond}))(t)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	head := must(log.Head(e.ctx))(t)
	w := engine.NewWaiter(pool, quiet)
	defer w.Close()
	if err := w.WaitFor(e.ctx, []string{projections.NameModelInvocations}, head.Commit, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	rm := readmodels.New(pool, e.codec)

	// Every read is audited first.
	must(e.app.ViewModelInvocations.Handle(e.ctx, commands.ViewModelInvocations{Meta: m(e.admin), SpaceID: sp,
		Justification: "Reviewing what reached the models."}))(t)
	viewed := false
	for _, ev := range e.events(domain.AccessStream(e.org)) {
		if v, ok := ev.(domain.ModelInvocationsViewed); ok && v.Viewer == e.admin && v.SpaceID == sp {
			viewed = true
		}
	}
	if !viewed {
		t.Fatal("the read was not audited")
	}
	all := must(rm.ModelInvocations(e.ctx, e.org, readmodels.ModelInvocationFilter{SpaceID: sp}, readmodels.Page{First: 10}))(t)
	if len(all.Edges) != 2 {
		t.Fatalf("%d invocations in the space, want 2", len(all.Edges))
	}
	one := must(rm.ModelInvocations(e.ctx, e.org, readmodels.ModelInvocationFilter{UserID: e.admin, AssistantID: all.Edges[1].Node.AssistantID}, readmodels.Page{First: 10}))(t)
	if len(one.Edges) != 1 || one.Edges[0].Node.InvocationID != r1.InvocationID {
		t.Fatalf("filter by assistant and user: %+v", one.Edges)
	}
	inv := one.Edges[0].Node
	if inv.Request == nil || *inv.Request != sent || !inv.RequestComplete || inv.Response == nil || inv.Region != domain.RegionEU || len(inv.Excerpts) == 0 {
		t.Fatalf("read invocation %+v", inv)
	}
	if quiet := all.Edges[0].Node; quiet.PayloadLogged || quiet.Request != nil || quiet.RequestSHA256 == "" {
		t.Fatalf("unlogged invocation read as %+v", quiet)
	}
	if page := must(rm.ModelInvocations(e.ctx, e.org, readmodels.ModelInvocationFilter{SpaceID: sp}, readmodels.Page{First: 1}))(t); !page.PageInfo.HasNextPage {
		t.Fatal("paging")
	} else if next := must(rm.ModelInvocations(e.ctx, e.org, readmodels.ModelInvocationFilter{SpaceID: sp}, readmodels.Page{First: 1, After: page.PageInfo.EndCursor}))(t); len(next.Edges) != 1 || next.Edges[0].Node.InvocationID == page.Edges[0].Node.InvocationID {
		t.Fatal("second page")
	}
	if other := must(rm.ModelInvocations(e.ctx, "00000000-0000-4000-8000-0000000000ff", readmodels.ModelInvocationFilter{}, readmodels.Page{}))(t); len(other.Edges) != 0 {
		t.Fatal("another organisation sees invocations")
	}

	// After the document is erased, its text leaves the readable payload; the rest stays.
	if err := e.kr.StartShredding(e.ctx, domain.DocumentSubject(ids["ferry"]), "test", e.admin, 0); err != nil {
		t.Fatal(err)
	}
	one = must(rm.ModelInvocations(e.ctx, e.org, readmodels.ModelInvocationFilter{AssistantID: inv.AssistantID}, readmodels.Page{}))(t)
	got := one.Edges[0].Node
	if got.Request == nil || got.RequestComplete || strings.Contains(*got.Request, "Delta-confidential-figure") ||
		!strings.Contains(*got.Request, "What is the ferry bridges budget?") || got.Response != nil {
		t.Fatalf("after erasure: %v %q", got.RequestComplete, *got.Request)
	}
}
