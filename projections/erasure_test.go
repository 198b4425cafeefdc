package projections_test

import (
	"context"
	"encoding/json"
	"github.com/arkiv/arkiv/infra/auth"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/google/uuid"
)

type ids struct{}

func (ids) NewID() string { return uuid.NewString() }

const canary = "Kanariefågel-7c1e9b"

// TestErasureCycleLeavesNoCanary runs the whole write and read side — commands over the
// embedded event store, the real keyring, every projection, Weaviate — and checks that a
// canary string ingested in a document is searchable, gone from every read-model table and
// Weaviate object once the document is erased, back after a restore, gone again after a
// second erasure, its destruction, and a full rebuild; then that erasing the space deletes
// its tenant.
func TestErasureCycleLeavesNoCanary(t *testing.T) {
	t.Parallel()
	wvURL := weaviatetest.URL(t)
	f := apptest.NewFixture(t)
	ctx := f.Ctx

	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(ctx, pgtest.NewPool(t), kek, domain.SystemClock{}, keyring.WithoutListener())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kr.Close)
	codec := keyring.NewCodec(kr)
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	app, err := commands.NewApp(commands.Deps{Store: f.ES.Store, Codec: codec, Clock: domain.SystemClock{}, IDs: ids{}, Events: reg}, apptest.Quiet)
	if err != nil {
		t.Fatal(err)
	}
	class := weaviatetest.ClassName(t, "RmErasure")
	ix, err := search.New(ctx, search.Config{URL: wvURL, Class: class})
	if err != nil {
		t.Fatal(err)
	}
	emb := embedding.NewHashing(64)
	ps, err := projections.All(projections.Deps{Streams: f.ES.Store, Auth: auth.Tables{}, Opener: codec, Index: ix, Embedder: emb,
		Chunker: search.Chunker{Size: 60, Overlap: 10}})
	if err != nil {
		t.Fatal(err)
	}
	runner := f.Runner(ps)
	f.Run(runner)
	waiter := engine.NewWaiter(f.Pool, apptest.Quiet)
	t.Cleanup(waiter.Close)
	wait := func(pos uint64) {
		t.Helper()
		if err := waiter.WaitFor(ctx, runner.Names(), pos, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	reader := readmodels.New(f.Pool, codec, readmodels.WithSearch(searchIndex{ix}, emb))

	boot, err := app.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun",
		AdminEmail: "admin@kommun.se", AdminName: "Admin"})
	if err != nil {
		t.Fatal(err)
	}
	meta := func() commands.Meta { return commands.Meta{CommandID: uuid.NewString(), ActorID: boot.AdminUserID} }
	space, err := app.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: meta(), Name: "Socialtjänst", Classification: domain.ClassInternal})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("Protokoll från nämndens sammanträde om ärendet. ", 8) + canary + " har fått beslut om bistånd. " +
		strings.Repeat("Övriga frågor behandlades inte. ", 6)
	doc, err := app.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(), SpaceID: space.ID, Title: "Protokoll",
		ContentType: "text/plain", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	wait(doc.Position)
	org := boot.OrganizationID

	present := func(stage string) {
		t.Helper()
		content, err := reader.DocumentContent(ctx, org, doc.ID)
		if err != nil || content == nil || !strings.Contains(*content, canary) {
			t.Fatalf("%s: the document's content is not readable: %v", stage, err)
		}
		hits, err := reader.Search(ctx, org, space.ID, canary, 5)
		if err != nil || len(hits) == 0 || !strings.Contains(hits[0].Text, canary) {
			t.Fatalf("%s: the canary is not found by search: %+v, %v", stage, hits, err)
		}
		if n := weaviateCount(t, wvURL, class, canary); n == 0 {
			t.Fatalf("%s: no Weaviate object holds the canary", stage)
		}
		if tables := pgTablesWith(t, f, canary); len(tables) > 0 {
			t.Fatalf("%s: plaintext canary in read-model tables %v", stage, tables)
		}
	}
	gone := func(stage string) {
		t.Helper()
		if tables := pgTablesWith(t, f, canary); len(tables) > 0 {
			t.Fatalf("%s: canary in read-model tables %v", stage, tables)
		}
		if n := weaviateCount(t, wvURL, class, canary); n > 0 {
			t.Fatalf("%s: %d Weaviate objects still hold the canary", stage, n)
		}
		if d, err := reader.Document(ctx, org, doc.ID); err != nil || d != nil {
			t.Fatalf("%s: the erased document is still listed: %+v, %v", stage, d, err)
		}
		if hits, err := reader.Search(ctx, org, space.ID, canary, 5); err != nil || len(hits) != 0 {
			t.Fatalf("%s: search still finds the erased document: %+v, %v", stage, hits, err)
		}
	}
	present("after ingestion")

	// The erasure process manager shreds the keys after the request and restores them after
	// the restore; here the test does it, around the commands.
	subject := domain.DocumentSubject(doc.ID)
	grace := 3
	req, err := app.RequestErasure.Handle(ctx, commands.RequestErasure{Meta: meta(), SubjectType: domain.SubjectDocument,
		SubjectID: doc.ID, GraceDays: &grace})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.StartShredding(ctx, subject, "erasure", boot.AdminUserID, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	wait(req.Position)
	gone("after the erasure request")

	res, err := app.RestoreErasure.Handle(ctx, commands.RestoreErasure{Meta: meta(), ErasureID: req.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Restore(ctx, subject); err != nil {
		t.Fatal(err)
	}
	wait(res.Position)
	present("after the restore")

	zero := 0
	req2, err := app.RequestErasure.Handle(ctx, commands.RequestErasure{Meta: meta(), SubjectType: domain.SubjectDocument,
		SubjectID: doc.ID, GraceDays: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.StartShredding(ctx, subject, "erasure", boot.AdminUserID, 0); err != nil { // grace 0 destroys
		t.Fatal(err)
	}
	wait(req2.Position)
	gone("after the second erasure")
	done, err := app.CompleteErasure.Handle(ctx, commands.CompleteErasure{Meta: meta(), ErasureID: req2.ID})
	if err != nil {
		t.Fatal(err)
	}
	wait(done.Position)
	gone("after destruction")

	if err := runner.RebuildAll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	gone("after a full rebuild")

	// Erasing the space deletes its whole tenant.
	doc2, err := app.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(), SpaceID: space.ID, Title: "Annat",
		ContentType: "text/plain", Text: "Ett annat dokument om " + canary + "."})
	if err != nil {
		t.Fatal(err)
	}
	wait(doc2.Position)
	if weaviateCount(t, wvURL, class, canary) == 0 {
		t.Fatal("the second document is not indexed")
	}
	req3, err := app.RequestErasure.Handle(ctx, commands.RequestErasure{Meta: meta(), SubjectType: domain.SubjectSpace,
		SubjectID: space.ID, GraceDays: &grace})
	if err != nil {
		t.Fatal(err)
	}
	wait(req3.Position)
	if tenants := weaviateTenants(t, wvURL, class); len(tenants) != 0 {
		t.Fatalf("tenants left after the space's erasure: %v", tenants)
	}
	if s, err := reader.Space(ctx, org, space.ID); err != nil || s != nil {
		t.Fatalf("the erased space is still there: %+v, %v", s, err)
	}
}

// pgTablesWith returns the tables of the read-model database (public schema) with a row
// whose text form contains s.
func pgTablesWith(t *testing.T, f *apptest.Fixture, s string) []string {
	t.Helper()
	rows, err := f.Pool.Query(f.Ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if len(tables) < 15 {
		t.Fatalf("only %d tables in the read-model database", len(tables))
	}
	var out []string
	for _, tb := range tables {
		var n int
		if err := f.Pool.QueryRow(f.Ctx, `SELECT count(*) FROM "`+tb+`" t WHERE t::text LIKE '%' || $1 || '%'`, s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, tb)
		}
	}
	return out
}

func weaviateGet(t *testing.T, url string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

func weaviateTenants(t *testing.T, base, class string) []string {
	t.Helper()
	var ts []struct {
		Name string `json:"name"`
	}
	weaviateGet(t, base+"/v1/schema/"+class+"/tenants", &ts)
	var out []string
	for _, x := range ts {
		out = append(out, x.Name)
	}
	return out
}

// weaviateCount returns how many objects of class, in any tenant, hold s in a property.
func weaviateCount(t *testing.T, base, class, s string) int {
	t.Helper()
	n := 0
	for _, tenant := range weaviateTenants(t, base, class) {
		var res struct {
			Objects []struct {
				Properties map[string]any `json:"properties"`
			} `json:"objects"`
		}
		weaviateGet(t, base+"/v1/objects?class="+class+"&tenant="+tenant+"&limit=10000", &res)
		for _, o := range res.Objects {
			b, _ := json.Marshal(o.Properties)
			if strings.Contains(string(b), s) {
				n++
			}
		}
	}
	return n
}

// searchIndex serves readmodels.SearchIndex over the Weaviate index, as the composition
// root does.
type searchIndex struct{ ix *search.Index }

func (s searchIndex) SearchChunks(ctx context.Context, spaceID, query string, vector []float32, limit int) ([]readmodels.SearchHit, error) {
	hits, err := s.ix.Search(ctx, spaceID, query, vector, search.SearchOptions{Limit: limit})
	out := make([]readmodels.SearchHit, len(hits))
	for i, h := range hits {
		out[i] = readmodels.SearchHit{ChunkID: h.ChunkID, DocumentID: h.DocumentID, ChunkIndex: h.ChunkIndex, Text: h.Text, Score: h.Score}
	}
	return out, err
}
