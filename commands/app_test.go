package commands_test

import (
	"log/slog"
	"testing"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestAskNeedsRetrieverAndModels: an App built without a retriever and models (the CLI, the
// process-manager workers) answers Ask with KindUnavailable and appends nothing; one with
// only half of them is refused at construction.
func TestAskNeedsRetrieverAndModels(t *testing.T) {
	w := newWorld(t, false)
	o := w.bootstrap("Org", "admin@org.example")
	_, assistant := w.space(o)
	conv := must(w.app.StartConversation.Handle(w.ctx, commands.StartConversation{Meta: meta(o.admin), AssistantID: assistant}))(t).ID
	_, err := w.app.Ask.Handle(w.ctx, commands.Ask{Meta: meta(o.admin), ConversationID: conv, Text: "Anyone there?"})
	if !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("Ask without assistants: %v (%s)", err, domain.KindOf(err))
	}
	if recs, _ := w.events(domain.StreamPrefixConversation + conv); len(recs) != 1 {
		t.Fatalf("the conversation has %d events after a refused Ask, want 1", len(recs))
	}
	half := w.deps
	half.Retriever = nil
	half.Models = noModels{}
	if _, err := commands.NewApp(half, slog.New(slog.DiscardHandler)); !domain.Is(domain.KindInternal, err) {
		t.Fatalf("models without a retriever accepted: %v", err)
	}
}

// noModels is a model router that serves no model; NewApp refuses it without a retriever
// before it could be asked.
type noModels struct{}

func (noModels) Provider(domain.AllowedModel) (commands.ModelProvider, error) {
	return nil, domain.E(domain.KindUnavailable, "models", "no models here")
}

func (noModels) Catalog() domain.ModelCatalog { return domain.ModelCatalog{} }
