package app_test

import (
	stdzip "archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/ledger"
)

// TestExportEvidenceOverGraphQL runs the platform as `arkiv serve` does: an Admin starts
// exportEvidence, polls evidenceExport until DONE, and the bundle verifies offline with the
// ledger's public key; the export is recorded; a non-Admin is refused.
func TestExportEvidenceOverGraphQL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = es.Close(sctx)
	}()
	skey, vkey, err := ledger.GenerateKey("arkiv.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := ledger.WriteKeyFile(keyFile, skey, vkey); err != nil {
		t.Fatal(err)
	}
	key, err := ledger.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Open(ctx, app.Config{
		PGURL: pgtest.NewDatabase(t), KeystoreURL: pgtest.NewDatabase(t), ESDBURL: es.ConnectionString(),
		WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"), SearchClass: weaviatetest.ClassName(t, "Evidence"),
		KEKFile: filepath.Join(t.TempDir(), "kek.json"), LoginKey: bytes.Repeat([]byte{7}, 32), Projections: true, Version: "test",
		SigningKey: key, CheckpointInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()

	res, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Evidence Org", AdminEmail: "dpo@example.org", AdminName: "DPO"})
	if err != nil {
		t.Fatal(err)
	}
	gql := func(token, query string, vars map[string]any) (map[string]any, []any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []any          `json:"errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		return out.Data, out.Errors
	}
	from, to := time.Now().UTC().Add(-time.Hour), time.Now().UTC().Add(time.Hour)
	// Wait for a checkpoint covering the bootstrap.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp, err := p.Ledger.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp != nil && cp.Size >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint")
		}
		time.Sleep(50 * time.Millisecond)
	}
	data, errs := gql(res.APIKey, `mutation($from: Time!, $to: Time!) { exportEvidence(from: $from, to: $to) { id status } }`,
		map[string]any{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339)})
	if len(errs) > 0 {
		t.Fatalf("exportEvidence: %v", errs)
	}
	id := data["exportEvidence"].(map[string]any)["id"].(string)
	var job map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; {
		data, errs := gql(res.APIKey, `query($id: ID!) { evidenceExport(id: $id) { status progress bundle fileName manifestSha256 error } }`, map[string]any{"id": id})
		if len(errs) > 0 {
			t.Fatalf("evidenceExport: %v", errs)
		}
		job = data["evidenceExport"].(map[string]any)
		if job["status"] != "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the export did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if job["status"] != "DONE" {
		t.Fatalf("export: %v", job)
	}
	zip, err := base64.StdEncoding.DecodeString(job["bundle"].(string))
	if err != nil {
		t.Fatal(err)
	}
	m, err := evidence.Verify(bytes.NewReader(zip), int64(len(zip)), note.VerifierList(key.Verifier()))
	if err != nil {
		t.Fatalf("the bundle does not verify: %v", err)
	}
	if m.Organization != res.OrganizationID || m.Checkpoint == nil {
		t.Errorf("manifest: %+v", m)
	}
	// The job's bundle reports the installation's key management like the CLI's.
	zr, err := stdzip.NewReader(bytes.NewReader(zip), int64(len(zip)))
	if err != nil {
		t.Fatal(err)
	}
	var dep evidence.Deployment
	for _, f := range zr.File {
		if f.Name == "deployment.json" {
			rc, _ := f.Open()
			err = json.NewDecoder(rc).Decode(&dep)
			rc.Close()
		}
	}
	if err != nil || dep.KEKHolder != "file" || len(dep.KEKHistory) == 0 || dep.KEKHistory[0].InUseSince.IsZero() || dep.LedgerKey != key.VerifierKey {
		t.Errorf("deployment.json of the job's bundle: %+v, %v", dep, err)
	}
	// Recorded in the log, with the manifest's hash.
	recorded := false
	for deadline := time.Now().Add(10 * time.Second); !recorded && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		recs, err := p.Store.ReadAll(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Type == (domain.EvidenceExported{}).EventName() && bytes.Contains(r.Data, []byte(job["manifestSha256"].(string))) {
				recorded = true
			}
		}
	}
	if !recorded {
		t.Error("the export is not recorded in the log")
	}
	// Another organisation's Admin cannot see the job.
	other, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Other Org", AdminEmail: "o@example.org", AdminName: "O"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = gql(other.APIKey, `query($id: ID!) { evidenceExport(id: $id) { status } }`, map[string]any{"id": id})
	if data["evidenceExport"] != nil {
		t.Errorf("another organisation sees the export: %v", data)
	}
}
