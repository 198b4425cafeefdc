package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/ledger"
)

// TestPlatformSignsAndVerifiesTheLedger runs the platform as `arkiv serve` does, with a
// signing key: the events of a bootstrap are anchored in a signed checkpoint, and the
// verification that follows the checkpoint is recorded as passed.
func TestPlatformSignsAndVerifiesTheLedger(t *testing.T) {
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
		WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"), SearchClass: weaviatetest.ClassName(t, "Ledger"),
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

	res, err := p.App.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Ledger Org", AdminEmail: "dpo@example.org", AdminName: "DPO"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp, err := p.Ledger.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Ledger.LastVerification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp != nil && v != nil && v.Checkpoint >= cp.Size && cp.Size > 0 {
			if !v.OK {
				t.Fatalf("verification failed: %+v", v.Failure)
			}
			if _, _, err := ledger.OpenCheckpoint([]byte(cp.Note), note.VerifierList(key.Verifier())); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified checkpoint: %+v %+v", cp, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Ledger.PublicKey() != key.VerifierKey {
		t.Fatal("the reader's public key is not the signing key's")
	}
	// The bootstrap's events have proofs once the checkpoint covers them.
	recs, _, err := p.Store.Load(ctx, "org-"+res.OrganizationID)
	if err != nil || len(recs) == 0 {
		t.Fatalf("%d events, %v", len(recs), err)
	}
	pr, err := p.Ledger.Proof(ctx, recs[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyProof(pr, note.VerifierList(key.Verifier())); err != nil {
		t.Fatal(err)
	}
}
