package projections

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameModelInvocations is the name of the model-invocation log projection.
const NameModelInvocations = "readmodel.model_invocations"

var evInvocation = domain.ModelInvocationRecorded{}.EventName()

// ModelInvocations keeps one model_invocations row per model call: which model, where it is
// hosted, for whom, with which outcome, tokens and latency, the excerpts sent, and — when the
// assistant logs payloads — the request parts and response as ciphertext (SealedRef), which
// readmodels decrypts at query time. Erasing a document, a user, a conversation or the
// day's model-log bucket makes the sealed fields unreadable; the row stays as the record
// that the call happened.
type ModelInvocations struct{}

// NewModelInvocations returns the projection.
func NewModelInvocations() *ModelInvocations { return &ModelInvocations{} }

// Name implements engine.Projection.
func (*ModelInvocations) Name() string { return NameModelInvocations }

// Tables implements engine.Projection.
func (*ModelInvocations) Tables() []string { return []string{"model_invocations"} }

type invocationWire struct {
	ConversationID string              `json:"conversationId"`
	InvocationID   string              `json:"invocationId"`
	MessageID      string              `json:"messageId"`
	AssistantID    string              `json:"assistantId"`
	UserID         string              `json:"userId"`
	Model          string              `json:"model"`
	Region         string              `json:"region"`
	Excerpts       []domain.ExcerptRef `json:"excerpts"`
	PayloadLogged  bool                `json:"payloadLogged"`
	RequestPayload string              `json:"requestPayload"`
	RequestParts   []struct {
		Text      string   `json:"text"`
		Documents []string `json:"documents"`
	} `json:"requestParts"`
	RequestSHA256    string `json:"requestSha256"`
	ResponsePayload  string `json:"responsePayload"`
	PromptTokens     int    `json:"promptTokens"`
	CompletionTokens int    `json:"completionTokens"`
	LatencyMillis    int64  `json:"latencyMillis"`
	Outcome          string `json:"outcome"`
	Attempts         int    `json:"attempts"`
	Error            string `json:"error"`
}

// InvocationPart is one stored request part: its sealed text and the documents it carries.
type InvocationPart struct {
	Text      *SealedRef `json:"text"`
	Documents []string   `json:"documents,omitempty"`
}

// invocationColumns are the columns invocationRow fills, in order.
var invocationColumns = []string{"invocation_id", "event_id", "organization_id", "space_id", "assistant_id",
	"user_id", "conversation_id", "message_id", "model", "region", "outcome", "error", "excerpts", "payload_logged",
	"request_parts", "request_sha256", "response_payload", "prompt_tokens", "completion_tokens", "latency_millis",
	"attempts", "invoked_at", "position"}

// invocationRow returns ev's model_invocations row as values for invocationColumns, nil for
// an event of another type. Apply and ApplyBatch both write exactly these rows.
func invocationRow(ev engine.Event) ([]any, error) {
	if ev.Type != evInvocation {
		return nil, nil
	}
	var w invocationWire
	if err := decode(ev, &w); err != nil {
		return nil, err
	}
	m := metaOf(ev)
	parts := make([]InvocationPart, 0, len(w.RequestParts))
	for i, p := range w.RequestParts {
		parts = append(parts, InvocationPart{Text: ref(ev, "requestParts."+strconv.Itoa(i)+".text", p.Text), Documents: p.Documents})
	}
	if len(parts) == 0 && w.RequestPayload != "" {
		parts = append(parts, InvocationPart{Text: ref(ev, "requestPayload", w.RequestPayload)})
	}
	partsJSON, err := json.Marshal(parts)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, "projections.invocations", err, "encode parts")
	}
	excerpts := w.Excerpts
	if excerpts == nil {
		excerpts = []domain.ExcerptRef{}
	}
	exJSON, err := json.Marshal(excerpts)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, "projections.invocations", err, "encode excerpts")
	}
	var resp any
	if r := ref(ev, "responsePayload", w.ResponsePayload); r != nil {
		resp = r
	}
	return []any{w.InvocationID, ev.ID.String(), m.Organization, m.Space, w.AssistantID, w.UserID, w.ConversationID, w.MessageID,
		w.Model, w.Region, w.Outcome, nullable(w.Error), exJSON, w.PayloadLogged, partsJSON, nullable(w.RequestSHA256),
		resp, w.PromptTokens, w.CompletionTokens, w.LatencyMillis, w.Attempts, m.OccurredAt, pos(ev)}, nil
}

// Apply implements engine.Projection.
func (*ModelInvocations) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	row, err := invocationRow(ev)
	if err != nil || row == nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO model_invocations (invocation_id, event_id, organization_id, space_id, assistant_id,
		user_id, conversation_id, message_id, model, region, outcome, error, excerpts, payload_logged, request_parts,
		request_sha256, response_payload, prompt_tokens, completion_tokens, latency_millis, attempts, invoked_at, position)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)
		ON CONFLICT (invocation_id) DO NOTHING`, row...)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, "projections.invocations", err, "write model invocation")
	}
	return nil
}

// ApplyBatch implements engine.BatchProjection: the rows Apply writes, with one COPY.
// An invocation id already present makes the COPY fail; the runner and rebuilds then apply
// the batch one event at a time, where ON CONFLICT skips it.
func (*ModelInvocations) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []engine.Event) error {
	if !slices.ContainsFunc(evs, func(ev engine.Event) bool { return ev.Type == evInvocation }) {
		return nil
	}
	_, err := engine.CopyEvents(ctx, tx, "model_invocations", invocationColumns, evs, invocationRow)
	return err
}
