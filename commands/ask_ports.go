package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ChatMessage is one message of a chat-completions request.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ModelExcerpt is a document excerpt placed in a model request, numbered as cited ([1]).
type ModelExcerpt struct {
	Number     int
	DocumentID string
	Text       string
}

// ModelRequest is one call to a language model.
type ModelRequest struct {
	// Model is the model id sent to the provider.
	Model domain.ModelID
	// Endpoint is the model's base URL from the organisation's allow-list.
	Endpoint string
	// Messages are the chat messages sent (system, then user).
	Messages []ChatMessage
	// Question is the user's question, as it appears in the last message.
	Question string
	// Excerpts are the excerpts placed in the messages, in order; providers use them to
	// split the payload into parts per document (and the offline answerer to answer).
	Excerpts []ModelExcerpt
	// MaxTokens bounds the reply (0: the provider's default).
	MaxTokens int
	// OnToken, when set, receives the reply's text deltas as they arrive.
	OnToken func(delta string)
}

// ModelResponse is what a model call returned, and exactly what was sent.
type ModelResponse struct {
	// Text is the complete reply.
	Text string
	// RequestPayload is the exact request body sent, byte for byte.
	RequestPayload []byte
	// RequestParts split RequestPayload into runs with the documents each carries.
	RequestParts []domain.PayloadPart
	// ResponsePayload is the response body as received (capped at domain.MaxPayloadBytes).
	ResponsePayload []byte
	// PromptTokens and CompletionTokens are the provider's usage counts (estimated by
	// providers that do not report them).
	PromptTokens, CompletionTokens int
	// Attempts is how many calls were made, retries included.
	Attempts int
	// Timeout is set when the last attempt failed by timing out.
	Timeout bool
}

// ModelProvider calls a language model. On failure it still returns what it sent (payload
// and attempts) with an error of KindUnavailable.
type ModelProvider interface {
	Complete(ctx context.Context, req ModelRequest) (ModelResponse, error)
}

// ModelRouter returns the provider that serves an allow-listed model, and the operator's
// model catalogue the allow-lists are drawn from.
type ModelRouter interface {
	Provider(m domain.AllowedModel) (ModelProvider, error)
	Catalog() domain.ModelCatalog
}

// Retriever finds candidate excerpts for a question in one space's search index (hybrid
// search in the space's tenant), best first, with each document's chunk count.
type Retriever interface {
	Retrieve(ctx context.Context, spaceID, query string, limit int) ([]domain.Candidate, error)
}
