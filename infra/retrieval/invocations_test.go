package retrieval_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/jackc/pgx/v5/pgxpool"
)

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
	must(e.app.ViewModelInvocations.Handle(e.ctx, commands.ViewModelInvocations{Meta: m(e.admin), SpaceID: sp}))(t)
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
