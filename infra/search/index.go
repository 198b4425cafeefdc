// Package search is Arkiv's search index in Weaviate: document chunks with vectors supplied by
// Arkiv (infra/embedding) in one multi-tenant collection, one tenant per Space, so a Space is
// isolated and deletable as a unit, and hybrid (BM25 + vector) search scoped to one tenant.
// Chunker splits documents into overlapping chunks.
//
// Operating note: Weaviate's BM25 walks a tenant's whole unflushed write buffer on every
// query, so keyword and hybrid search over freshly written chunks are slow (tens of ms per
// 5,000 chunks) until Weaviate flushes it, by default 60 s after the first write. The dev
// stack sets PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS=5; set something similar on a
// production Weaviate that serves search right after ingestion. Give Config.GRPCAddr to
// import and search over gRPC.
package search

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/go-openapi/strfmt"
	"github.com/google/uuid"
	"github.com/weaviate/weaviate-go-client/v4/weaviate"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	wvgrpc "github.com/weaviate/weaviate-go-client/v4/weaviate/grpc"
	"github.com/weaviate/weaviate/entities/models"
	"github.com/weaviate/weaviate/entities/schema"
)

// DefaultClass is the collection that holds document chunks.
const DefaultClass = "DocumentChunk"

// Config configures an Index.
type Config struct {
	// URL is Weaviate's HTTP base URL, e.g. "http://127.0.0.1:8080" (ARKIV_WEAVIATE_URL).
	URL string
	// GRPCAddr, when set (host:port), makes batch imports and searches use Weaviate's gRPC
	// API (ARKIV_WEAVIATE_GRPC).
	GRPCAddr string
	// Class is the collection name (default DefaultClass); tests use their own.
	Class string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
}

// Index writes and searches document chunks.
type Index struct {
	client  *weaviate.Client
	grpc    *grpcSearcher // nil: search over GraphQL
	class   string
	tenants sync.Map // tenant name -> struct{}: tenants known to exist
}

// Chunk is one piece of a document, with its vector.
type Chunk struct {
	DocumentID string
	Index      int
	Text       string
	Vector     []float32
}

// Hit is one search result.
type Hit struct {
	DocumentID string
	// ChunkID is the Weaviate object id of the chunk, derived from document id and index.
	ChunkID    string
	ChunkIndex int
	Text       string
	// Score is Weaviate's fused hybrid score; higher is better.
	Score float64
}

var tenantRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// chunkNamespace derives chunk ids: re-indexing a chunk replaces it instead of duplicating it.
var chunkNamespace = uuid.MustParse("5b0f7f2e-3c55-4b8e-9a77-1f6d0f1c2a10")

// ChunkID returns the object id of chunk index of a document in a space.
func ChunkID(spaceID, documentID string, index int) string {
	return uuid.NewSHA1(chunkNamespace, []byte(spaceID+"\x00"+documentID+"\x00"+strconv.Itoa(index))).String()
}

// New connects to Weaviate and creates the collection if it does not exist: multi-tenancy on,
// no vectorizer (vectors are supplied), properties documentId, spaceId, chunkIndex and text
// (the only one BM25 searches).
func New(ctx context.Context, cfg Config) (*Index, error) {
	const op = "search.New"
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, domain.E(domain.KindInvalid, op, "ARKIV_WEAVIATE_URL must be an http(s) URL")
	}
	if cfg.Class == "" {
		cfg.Class = DefaultClass
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	wc := weaviate.Config{Host: u.Host, Scheme: u.Scheme, Timeout: cfg.Timeout}
	if cfg.GRPCAddr != "" {
		wc.GrpcConfig = &wvgrpc.Config{Host: cfg.GRPCAddr, Secured: u.Scheme == "https"}
	}
	client, err := weaviate.NewClient(wc)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "connect to Weaviate")
	}
	ix := &Index{client: client, class: cfg.Class}
	if cfg.GRPCAddr != "" {
		if ix.grpc, err = newGRPCSearcher(cfg.GRPCAddr, u.Scheme == "https"); err != nil {
			return nil, domain.Wrap(domain.KindInvalid, op, err, "ARKIV_WEAVIATE_GRPC must be host:port")
		}
	}
	if err := ix.ensureClass(ctx); err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

// Close releases the gRPC connection, if any. The Index must not be used afterwards.
func (ix *Index) Close() error {
	if ix.grpc == nil {
		return nil
	}
	return ix.grpc.conn.Close()
}

// Class returns the collection name.
func (ix *Index) Class() string { return ix.class }

func (ix *Index) ensureClass(ctx context.Context) error {
	const op = "search.New"
	exists, err := ix.client.Schema().ClassExistenceChecker().WithClassName(ix.class).Do(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "Weaviate is unreachable")
	}
	if exists {
		return nil
	}
	skip := map[string]any{"skip": true}
	class := &models.Class{
		Class:              ix.class,
		Description:        "Chunks of documents, one tenant per Space",
		Vectorizer:         "none",
		MultiTenancyConfig: &models.MultiTenancyConfig{Enabled: true},
		VectorIndexConfig:  map[string]any{"distance": "cosine"},
		Properties: []*models.Property{
			{Name: "documentId", DataType: schema.DataTypeText.PropString(), Tokenization: "field", IndexSearchable: ptr(false), IndexFilterable: ptr(true), ModuleConfig: skip},
			{Name: "spaceId", DataType: schema.DataTypeText.PropString(), Tokenization: "field", IndexSearchable: ptr(false), IndexFilterable: ptr(true), ModuleConfig: skip},
			{Name: "chunkIndex", DataType: schema.DataTypeInt.PropString(), ModuleConfig: skip},
			{Name: "text", DataType: schema.DataTypeText.PropString(), Tokenization: "word", ModuleConfig: skip},
		},
	}
	if err := ix.client.Schema().ClassCreator().WithClass(class).Do(ctx); err != nil {
		// Another process may have created it meanwhile.
		if again, cerr := ix.client.Schema().ClassExistenceChecker().WithClassName(ix.class).Do(ctx); cerr == nil && again {
			return nil
		}
		return domain.Wrap(domain.KindUnavailable, op, err, "create the "+ix.class+" collection")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func checkTenant(op, spaceID string) error {
	if !tenantRe.MatchString(spaceID) {
		return domain.E(domain.KindInvalid, op, "space id is not a valid tenant name")
	}
	return nil
}

// EnsureTenant creates the space's tenant if it does not exist.
func (ix *Index) EnsureTenant(ctx context.Context, spaceID string) error {
	const op = "search.EnsureTenant"
	if err := checkTenant(op, spaceID); err != nil {
		return err
	}
	if _, ok := ix.tenants.Load(spaceID); ok {
		return nil
	}
	ok, err := ix.client.Schema().TenantsExists().WithClassName(ix.class).WithTenant(spaceID).Do(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "look up tenant")
	}
	if !ok {
		err := ix.client.Schema().TenantsCreator().WithClassName(ix.class).
			WithTenants(models.Tenant{Name: spaceID}).Do(ctx)
		if err != nil {
			if again, cerr := ix.client.Schema().TenantsExists().WithClassName(ix.class).WithTenant(spaceID).Do(ctx); cerr != nil || !again {
				return domain.Wrap(domain.KindUnavailable, op, err, "create tenant")
			}
		}
	}
	ix.tenants.Store(spaceID, struct{}{})
	return nil
}

// TenantExists reports whether the space's tenant exists in Weaviate (asked of Weaviate,
// not of the index's cache).
func (ix *Index) TenantExists(ctx context.Context, spaceID string) (bool, error) {
	const op = "search.TenantExists"
	if err := checkTenant(op, spaceID); err != nil {
		return false, err
	}
	ok, err := ix.client.Schema().TenantsExists().WithClassName(ix.class).WithTenant(spaceID).Do(ctx)
	if err != nil {
		return false, domain.Wrap(domain.KindUnavailable, op, err, "look up tenant")
	}
	return ok, nil
}

// DeleteTenant deletes the space's tenant and every chunk in it. Deleting a missing tenant
// succeeds.
func (ix *Index) DeleteTenant(ctx context.Context, spaceID string) error {
	const op = "search.DeleteTenant"
	if err := checkTenant(op, spaceID); err != nil {
		return err
	}
	ix.tenants.Delete(spaceID)
	ok, err := ix.client.Schema().TenantsExists().WithClassName(ix.class).WithTenant(spaceID).Do(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "look up tenant")
	}
	if !ok {
		return nil
	}
	if err := ix.client.Schema().TenantsDeleter().WithClassName(ix.class).WithTenants(spaceID).Do(ctx); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "delete tenant")
	}
	return nil
}

// Upsert writes chunks into the space's tenant (created on demand) in batches. A chunk with
// the same document id and index replaces the stored one.
func (ix *Index) Upsert(ctx context.Context, spaceID string, chunks []Chunk) error {
	const op = "search.Upsert"
	if err := ix.EnsureTenant(ctx, spaceID); err != nil {
		return err
	}
	const batch = 500
	for start := 0; start < len(chunks); start += batch {
		part := chunks[start:min(start+batch, len(chunks))]
		objs := make([]*models.Object, len(part))
		for i, c := range part {
			if c.DocumentID == "" || len(c.Vector) == 0 {
				return domain.E(domain.KindInvalid, op, "a chunk needs a document id and a vector")
			}
			objs[i] = &models.Object{
				Class:  ix.class,
				ID:     strfmt.UUID(ChunkID(spaceID, c.DocumentID, c.Index)),
				Tenant: spaceID,
				Vector: c.Vector,
				Properties: map[string]any{
					"documentId": c.DocumentID,
					"spaceId":    spaceID,
					"chunkIndex": c.Index,
					"text":       c.Text,
				},
			}
		}
		resp, err := ix.client.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "write chunks")
		}
		for _, r := range resp {
			if r.Result != nil && r.Result.Errors != nil && len(r.Result.Errors.Error) > 0 {
				return domain.Errorf(domain.KindInternal, op, "Weaviate rejected a chunk: %s", r.Result.Errors.Error[0].Message)
			}
		}
	}
	return nil
}

// UpsertDocument writes a document's chunks into the space's tenant like Upsert: texts[i],
// embedded as vectors[i], is chunk i of documentID. It implements projections.Index.
func (ix *Index) UpsertDocument(ctx context.Context, spaceID, documentID string, texts []string, vectors [][]float32) error {
	if len(vectors) != len(texts) {
		return domain.Errorf(domain.KindInternal, "search.UpsertDocument", "%d chunk texts but %d vectors", len(texts), len(vectors))
	}
	chunks := make([]Chunk, len(texts))
	for i, t := range texts {
		chunks[i] = Chunk{DocumentID: documentID, Index: i, Text: t, Vector: vectors[i]}
	}
	return ix.Upsert(ctx, spaceID, chunks)
}

// DeleteDocument removes every chunk of a document from the space's tenant.
func (ix *Index) DeleteDocument(ctx context.Context, spaceID, documentID string) error {
	const op = "search.DeleteDocument"
	if err := ix.EnsureTenant(ctx, spaceID); err != nil {
		return err
	}
	where := filters.Where().WithPath([]string{"documentId"}).WithOperator(filters.Equal).WithValueText(documentID)
	_, err := ix.client.Batch().ObjectsBatchDeleter().WithClassName(ix.class).WithTenant(spaceID).
		WithWhere(where).WithOutput("minimal").Do(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "delete document chunks")
	}
	return nil
}

// ReplaceDocument replaces all chunks of a document with chunks.
func (ix *Index) ReplaceDocument(ctx context.Context, spaceID, documentID string, chunks []Chunk) error {
	if err := ix.DeleteDocument(ctx, spaceID, documentID); err != nil {
		return err
	}
	return ix.Upsert(ctx, spaceID, chunks)
}

// SearchOptions tune Search.
type SearchOptions struct {
	// Limit is the most hits returned (default 10).
	Limit int
	// Alpha weighs vector against keyword search: 0 is pure BM25, 1 pure vector (default 0.5).
	Alpha *float32
}

// Search runs a hybrid (BM25 on text + vector) query in the space's tenant only; vector is the
// query's embedding. A space without a tenant has no hits.
func (ix *Index) Search(ctx context.Context, spaceID, query string, vector []float32, opts SearchOptions) ([]Hit, error) {
	const op = "search.Search"
	if err := checkTenant(op, spaceID); err != nil {
		return nil, err
	}
	if _, ok := ix.tenants.Load(spaceID); !ok {
		exists, err := ix.client.Schema().TenantsExists().WithClassName(ix.class).WithTenant(spaceID).Do(ctx)
		if err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "look up tenant")
		}
		if !exists {
			return nil, nil
		}
		ix.tenants.Store(spaceID, struct{}{})
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 10
	}
	alpha := float32(0.5)
	if opts.Alpha != nil {
		alpha = *opts.Alpha
	}
	if ix.grpc != nil {
		return ix.grpc.search(ctx, ix.class, spaceID, query, vector, alpha, limit)
	}
	hybrid := ix.client.GraphQL().HybridArgumentBuilder().WithQuery(query).WithVector(vector).
		WithAlpha(alpha).WithProperties([]string{"text"})
	resp, err := ix.client.GraphQL().Get().WithClassName(ix.class).WithTenant(spaceID).
		WithHybrid(hybrid).WithLimit(limit).
		WithFields(
			graphql.Field{Name: "documentId"},
			graphql.Field{Name: "chunkIndex"},
			graphql.Field{Name: "text"},
			graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}, {Name: "score"}}},
		).Do(ctx)
	if err != nil {
		var we *fault.WeaviateClientError
		if errors.As(err, &we) && we.StatusCode >= 400 && we.StatusCode < 500 {
			return nil, domain.Wrap(domain.KindInvalid, op, err, "search rejected")
		}
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "search")
	}
	if len(resp.Errors) > 0 {
		return nil, domain.Errorf(domain.KindInternal, op, "search failed: %s", resp.Errors[0].Message)
	}
	get, _ := resp.Data["Get"].(map[string]any)
	items, _ := get[ix.class].([]any)
	hits := make([]Hit, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		h := Hit{}
		h.DocumentID, _ = m["documentId"].(string)
		h.Text, _ = m["text"].(string)
		if f, ok := m["chunkIndex"].(float64); ok {
			h.ChunkIndex = int(f)
		}
		if add, ok := m["_additional"].(map[string]any); ok {
			h.ChunkID, _ = add["id"].(string)
			switch s := add["score"].(type) {
			case string:
				h.Score, _ = strconv.ParseFloat(s, 64)
			case float64:
				h.Score = s
			}
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// Ready reports whether Weaviate answers its readiness probe.
func (ix *Index) Ready(ctx context.Context) error {
	ok, err := ix.client.Misc().ReadyChecker().Do(ctx)
	if err != nil || !ok {
		return domain.Wrap(domain.KindUnavailable, "search.Ready", errOrNotReady(err), "Weaviate is not ready")
	}
	return nil
}

func errOrNotReady(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("not ready")
}
