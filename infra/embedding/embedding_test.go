package embedding_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHashingIsDeterministicNormalisedAndLexical(t *testing.T) {
	t.Parallel()
	p := embedding.NewHashing(0)
	if p.Dimensions() != 384 {
		t.Fatalf("dimensions %d", p.Dimensions())
	}
	texts := []string{
		"Retention policy for the space archive",
		"retention policies of space archives",
		"Bananas grow in tropical climates",
		"",
		"Årsredovisning för kommunen",
	}
	a, err := p.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := embedding.NewHashing(384).Embed(context.Background(), texts)
	for i := range a {
		if len(a[i]) != 384 {
			t.Fatalf("vector %d has %d dims", i, len(a[i]))
		}
		if n := math.Sqrt(dot(a[i], a[i])); math.Abs(n-1) > 1e-5 {
			t.Fatalf("vector %d has norm %f", i, n)
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("vector %d differs between runs", i)
			}
		}
	}
	near, far := dot(a[0], a[1]), dot(a[0], a[2])
	if near < 0.4 || far > 0.2 || near <= far {
		t.Fatalf("similarity of related texts %.3f, unrelated %.3f", near, far)
	}
}

// fakeEmbeddings implements POST /v1/embeddings like an OpenAI-compatible server: a vector
// per input whose first component is the input's length.
func fakeEmbeddings(t *testing.T, key string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "test-embed" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
			Object    string    `json:"object"`
		}
		var data []item
		// Answer in reverse order: clients must place vectors by index.
		for i := len(req.Input) - 1; i >= 0; i-- {
			data = append(data, item{Index: i, Embedding: []float32{float32(len(req.Input[i])), 0, 1}, Object: "embedding"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenAIClientAgainstALoopbackServer(t *testing.T) {
	t.Parallel()
	srv := fakeEmbeddings(t, "sk-test")
	getenv := func(k string) string {
		return map[string]string{"ARKIV_EMBEDDINGS": "openai", "ARKIV_EMBEDDINGS_URL": srv.URL,
			"ARKIV_EMBEDDINGS_MODEL": "test-embed", "ARKIV_EMBEDDINGS_API_KEY": "sk-test"}[k]
	}
	cfg, err := embedding.ConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := embedding.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.(*embedding.OpenAI).BatchSize = 2
	vs, err := p.Embed(context.Background(), []string{"a", "bbb", "cc", "dddd", "e"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Dimensions() != 3 || len(vs) != 5 {
		t.Fatalf("got %d vectors of %d dims", len(vs), p.Dimensions())
	}
	for i, want := range []float64{1, 3, 2, 4, 1} {
		// [len, 0, 1] normalised: first component len/sqrt(len²+1).
		if got := float64(vs[i][0]); math.Abs(got-want/math.Sqrt(want*want+1)) > 1e-5 {
			t.Fatalf("vector %d = %v, want first component for length %v", i, vs[i], want)
		}
	}

	cfg.APIKey = "wrong"
	bad, _ := embedding.New(cfg)
	if _, err := bad.Embed(context.Background(), []string{"x"}); !domain.Is(domain.KindUnavailable, err) {
		t.Fatalf("wrong key: %v, want KindUnavailable", err)
	}
	cfg.URL = srv.URL + "/v1"
	cfg.APIKey = "sk-test"
	withV1, _ := embedding.New(cfg)
	if _, err := withV1.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatalf("base URL ending in /v1: %v", err)
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	for _, cfg := range []embedding.Config{
		{Kind: "magic"},
		{Kind: "openai"},
		{Kind: "openai", URL: "ftp://x", Model: "m"},
	} {
		if _, err := embedding.New(cfg); !domain.Is(domain.KindInvalid, err) {
			t.Errorf("New(%+v) = %v, want KindInvalid", cfg, err)
		}
	}
	if _, err := embedding.ConfigFromEnv(func(k string) string {
		if k == "ARKIV_EMBEDDINGS_DIMENSIONS" {
			return "-3"
		}
		return ""
	}); !domain.Is(domain.KindInvalid, err) {
		t.Errorf("negative dimensions accepted: %v", err)
	}
	p, err := embedding.New(embedding.Config{})
	if err != nil || p.Dimensions() != 384 {
		t.Fatalf("default provider: %v, %v", p, err)
	}
}
