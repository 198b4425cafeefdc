package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
)

// policyEmbedder puts an external embedding provider under the organisations' model policy:
// before each call the RecordEmbedding command checks the model (ARKIV_EMBEDDINGS_MODEL_ID,
// an entry of the operator's catalogue) against the allow-list, region and classification
// rules for the space the texts come from, and refuses — recording the refusal — before any
// text leaves; every call made is recorded with its counts and the SHA-256 of its texts,
// never the texts. The offline embedder runs in-process and is not wrapped.
type policyEmbedder struct {
	embedding.Provider
	model domain.ModelID
	app   func() *commands.App
}

// NewPolicyEmbedder wraps the external provider p, catalogued as model, under the model
// policy checked and recorded by the RecordEmbedding command of app() (asked at each call).
func NewPolicyEmbedder(p embedding.Provider, model domain.ModelID, app func() *commands.App) embedding.Provider {
	return &policyEmbedder{Provider: p, model: model, app: app}
}

// Embed refuses: an external call must name its space (EmbedFor), or no policy could apply.
func (e *policyEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, domain.E(domain.KindForbidden, "embedding.policy", "an external embedding call must name the space its texts come from")
}

// EmbedFor embeds texts of spaceID (and documentID, for the index) under the model policy.
func (e *policyEmbedder) EmbedFor(ctx context.Context, spaceID, documentID, purpose string, texts []string) ([][]float32, error) {
	a := e.app()
	if a == nil {
		return nil, domain.E(domain.KindUnavailable, "embedding.policy", "the model policy cannot be checked yet")
	}
	h := sha256.New()
	chars := 0
	for _, t := range texts {
		h.Write([]byte(t))
		h.Write([]byte{0})
		chars += utf8.RuneCountInString(t)
	}
	c := commands.RecordEmbedding{Meta: commands.Meta{CommandID: uuid.NewString(), ActorID: domain.SystemActor},
		SpaceID: spaceID, DocumentID: documentID, Purpose: purpose, Model: e.model, Texts: len(texts), Chars: chars,
		TextSHA256: hex.EncodeToString(h.Sum(nil))}
	if _, err := a.RecordEmbedding.Handle(ctx, c); err != nil {
		return nil, err
	}
	vecs, err := e.Provider.Embed(ctx, texts)
	c.Meta.CommandID, c.Outcome = uuid.NewString(), domain.OutcomeOK
	if err != nil {
		c.Outcome, c.Error = domain.OutcomeError, domain.KindOf(err).String()
	}
	if _, rerr := a.RecordEmbedding.Handle(ctx, c); rerr != nil && err == nil {
		// The call is made; not recording it is reported, not hidden.
		return nil, rerr
	}
	return vecs, err
}

// checkEmbeddingModel requires an external embedder to be an entry of the operator's
// catalogue, on the same host: its region is the catalogue's, which the organisations'
// allow-lists classify.
func checkEmbeddingModel(cfg embedding.Config, catalog domain.ModelCatalog) error {
	const op = "app.embedding_model"
	if cfg.ModelID == "" {
		return domain.E(domain.KindInvalid, op, "ARKIV_EMBEDDINGS_MODEL_ID is required with ARKIV_EMBEDDINGS=openai: the model catalogue's entry of the endpoint")
	}
	e, ok := catalog.Entry(domain.ModelID(cfg.ModelID))
	if !ok {
		return domain.Errorf(domain.KindInvalid, op, "ARKIV_EMBEDDINGS_MODEL_ID %s is not in the model catalogue (ARKIV_MODEL_CATALOG)", cfg.ModelID)
	}
	eu, err1 := url.Parse(e.Endpoint)
	cu, err2 := url.Parse(cfg.URL)
	if err1 != nil || err2 != nil || !strings.EqualFold(eu.Host, cu.Host) {
		return domain.Errorf(domain.KindInvalid, op, "ARKIV_EMBEDDINGS_URL is not on the host of catalogue entry %s", cfg.ModelID)
	}
	return nil
}
