package embedding

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// OpenAI is a client for an OpenAI-compatible embeddings endpoint (POST /v1/embeddings), as
// served by Ollama, vLLM, Hugging Face TEI and hosted APIs.
type OpenAI struct {
	endpoint string
	model    string
	apiKey   string
	http     *http.Client
	dims     atomic.Int64
	// BatchSize is the most texts sent in one request (default 64).
	BatchSize int
}

// NewOpenAI returns a client for cfg.URL and cfg.Model.
func NewOpenAI(cfg Config) (*OpenAI, error) {
	const op = "embedding.NewOpenAI"
	if cfg.URL == "" || cfg.Model == "" {
		return nil, domain.E(domain.KindInvalid, op, "the openai embeddings provider needs ARKIV_EMBEDDINGS_URL and ARKIV_EMBEDDINGS_MODEL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, domain.E(domain.KindInvalid, op, "ARKIV_EMBEDDINGS_URL must be an http(s) URL")
	}
	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(path, "/embeddings"):
	case strings.HasSuffix(path, "/v1"):
		path += "/embeddings"
	default:
		path += "/v1/embeddings"
	}
	u.Path = path
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c := &OpenAI{endpoint: u.String(), model: cfg.Model, apiKey: cfg.APIKey,
		http: &http.Client{Timeout: timeout}, BatchSize: 64}
	c.dims.Store(int64(cfg.Dimensions))
	return c, nil
}

// Dimensions returns the configured vector size, or the size of the first response when none
// was configured (0 before any call).
func (c *OpenAI) Dimensions() int { return int(c.dims.Load()) }

type embeddingsRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// Embed sends the texts in batches and returns their L2-normalised vectors in order.
func (c *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	bs := c.BatchSize
	if bs <= 0 {
		bs = 64
	}
	for start := 0; start < len(texts); start += bs {
		vs, err := c.embedBatch(ctx, texts[start:min(start+bs, len(texts))])
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

func (c *OpenAI) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	const op = "embedding.OpenAI.Embed"
	body, err := json.Marshal(embeddingsRequest{Model: c.model, Input: texts})
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "encode request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "build request")
	}
	req.Header.Set("Content-Type", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "embeddings server unreachable")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "read embeddings response")
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, domain.Errorf(domain.KindUnavailable, op, "embeddings server refused the API key (HTTP %d)", resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, domain.Errorf(domain.KindUnavailable, op, "embeddings server answered HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, domain.Errorf(domain.KindInternal, op, "embeddings server answered HTTP %d", resp.StatusCode)
	}
	var er embeddingsResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "decode embeddings response")
	}
	if len(er.Data) != len(texts) {
		return nil, domain.Errorf(domain.KindInternal, op, "embeddings server returned %d vectors for %d texts", len(er.Data), len(texts))
	}
	out := make([][]float32, len(texts))
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= len(texts) || out[d.Index] != nil {
			return nil, domain.E(domain.KindInternal, op, "embeddings response has bad indexes")
		}
		want := int(c.dims.Load())
		if want == 0 {
			c.dims.CompareAndSwap(0, int64(len(d.Embedding)))
			want = int(c.dims.Load())
		}
		if len(d.Embedding) != want || want == 0 {
			return nil, domain.E(domain.KindInternal, op, fmt.Sprintf("embedding has %d dimensions, want %d", len(d.Embedding), want))
		}
		out[d.Index] = normalise(d.Embedding)
	}
	return out, nil
}

func normalise(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	s := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= s
	}
	return v
}
