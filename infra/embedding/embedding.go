// Package embedding turns texts into vectors for the search index through a small Provider
// interface with two implementations: Hashing, an offline default that needs no network and no
// model files (feature hashing of words and character trigrams), and OpenAI, a client for any
// OpenAI-compatible /v1/embeddings endpoint (a local or EU-hosted Ollama, vLLM or TEI). New
// picks one from configuration (ARKIV_EMBEDDINGS and friends).
package embedding

import (
	"context"
	"strconv"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Provider embeds texts. Embed returns one vector per text, in order, each of Dimensions()
// numbers. Vectors are L2-normalised, so cosine similarity is a dot product.
type Provider interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimensions() int
}

// Config selects and configures a provider.
type Config struct {
	// Kind is "offline" (default) or "openai".
	Kind string
	// URL is the OpenAI-compatible server's base URL, e.g. "http://127.0.0.1:11434" or
	// "https://llm.example.eu/v1"; /v1/embeddings is appended as needed.
	URL string
	// Model is the embedding model name the server knows.
	Model string
	// APIKey, when set, is sent as a bearer token. It is never logged.
	APIKey string
	// Dimensions is the vector size: for offline, the hashing space (default 384); for
	// openai, the model's output size (0: learned from the first response).
	Dimensions int
	// Timeout bounds each HTTP request (default 30s).
	Timeout time.Duration
	// ModelID names the openai endpoint in the operator's model catalogue
	// (ARKIV_EMBEDDINGS_MODEL_ID): organisations allow-list and classify it like a chat model,
	// and every call is checked against that policy and recorded. Required for openai.
	ModelID string
}

// ConfigFromEnv reads ARKIV_EMBEDDINGS (offline|openai), ARKIV_EMBEDDINGS_URL,
// ARKIV_EMBEDDINGS_MODEL, ARKIV_EMBEDDINGS_MODEL_ID, ARKIV_EMBEDDINGS_API_KEY and ARKIV_EMBEDDINGS_DIMENSIONS through
// getenv (os.Getenv in production).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Kind:    getenv("ARKIV_EMBEDDINGS"),
		URL:     getenv("ARKIV_EMBEDDINGS_URL"),
		Model:   getenv("ARKIV_EMBEDDINGS_MODEL"),
		APIKey:  getenv("ARKIV_EMBEDDINGS_API_KEY"),
		ModelID: getenv("ARKIV_EMBEDDINGS_MODEL_ID"),
	}
	if d := getenv("ARKIV_EMBEDDINGS_DIMENSIONS"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return Config{}, domain.E(domain.KindInvalid, "embedding.ConfigFromEnv", "ARKIV_EMBEDDINGS_DIMENSIONS must be a positive integer")
		}
		c.Dimensions = n
	}
	return c, nil
}

// New returns the provider cfg selects.
func New(cfg Config) (Provider, error) {
	const op = "embedding.New"
	switch cfg.Kind {
	case "", "offline":
		return NewHashing(cfg.Dimensions), nil
	case "openai":
		return NewOpenAI(cfg)
	default:
		return nil, domain.Errorf(domain.KindInvalid, op, "unknown embeddings provider %q: want offline or openai", cfg.Kind)
	}
}
