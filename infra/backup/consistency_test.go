package backup_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/backup"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// TestVerifyChecksTheKeyStoreAgainstTheLog: a backup whose log holds an event sealed under a
// subject its key store has never seen fails Verify; paired with the right key store it
// passes, counting the subject. Load refuses a target that already holds events.
func TestVerifyChecksTheKeyStoreAgainstTheLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	esURL, rightKS, wrongKS := pgtest.NewDatabase(t), pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(url string) *keyring.Keyring {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{}, keyring.WithoutListener())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(kr.Close)
		return kr
	}
	kr := open(rightKS)
	open(wrongKS)
	blob, err := kr.Seal(ctx, []domain.Subject{domain.UserSubject(uuid.NewString())}, []byte("ad"), []byte("a name"))
	if err != nil {
		t.Fatal(err)
	}
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: esURL, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close(context.Background())
	cfg, _ := esdb.ParseConnectionString(es.ConnectionString())
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := []byte(`{"name":"` + keyring.EncryptedPrefix + base64.RawURLEncoding.EncodeToString(blob) + `"}`)
	if _, err := c.AppendToStream(ctx, "user-x", esdb.AppendToStreamOptions{},
		esdb.EventData{EventType: "user.registered.v1", ContentType: esdb.ContentTypeJson, Data: data}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	for name, ks := range map[string]string{"right": rightKS, "wrong": wrongKS} {
		if _, err := backup.Create(ctx, backup.Config{PGURL: esURL, KeystoreURL: ks, Keys: kek, Version: "test"}, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	_, rep, err := backup.Verify(ctx, filepath.Join(dir, "right"), backup.VerifyOptions{Keys: kek})
	if err != nil || rep.Subjects != 1 || rep.Keys != 1 || !rep.Decrypted {
		t.Fatalf("the consistent backup: %+v, %v", rep, err)
	}
	if _, _, err := backup.Verify(ctx, filepath.Join(dir, "wrong"), backup.VerifyOptions{Keys: kek}); err == nil ||
		!domain.Is(domain.KindConflict, err) || !strings.Contains(err.Error(), "neither a key nor a tombstone") {
		t.Fatalf("a backup whose key store misses the log's subject: %v", err)
	}
	// Without the KEK only the hashes are checked: the inconsistency is invisible.
	if _, rep, err := backup.Verify(ctx, filepath.Join(dir, "wrong"), backup.VerifyOptions{}); err != nil || rep.Decrypted {
		t.Fatalf("hash-only verify: %+v, %v", rep, err)
	}

	m, _, err := backup.ReadManifest(filepath.Join(dir, "right"))
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Load(ctx, filepath.Join(dir, "right"), m, kek, backup.Target{PGURL: esURL, KeystoreURL: wrongKS}, 2, nil); err != backup.ErrNotEmpty {
		t.Fatalf("Load into a store with events: %v, want ErrNotEmpty", err)
	}
}
