package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
)

func TestKeysRotateAndPruneKEK(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	kekPath := filepath.Join(t.TempDir(), "kek.json")
	kek, err := keyring.LoadOrCreateKEKFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	var blobs [][]byte
	for i := 0; i < 5; i++ {
		b, err := kr.Seal(ctx, []domain.Subject{domain.UserSubject(uuid.NewString())}, []byte("ad"), []byte("text"))
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	kr.Close()

	keys := func(sub string) string {
		t.Helper()
		var out bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if code := run(ctx, env, []string{"keys", sub, "-keystore-url", dsn, "-kek-file", kekPath}); code != 0 {
			t.Fatalf("arkiv keys %s exited %d: %s", sub, code, out.String())
		}
		return out.String()
	}
	if out := keys("prune-kek"); !strings.Contains(out, "nothing to prune") {
		t.Fatalf("prune before rotation: %s", out)
	}
	if out := keys("rotate-kek"); !strings.Contains(out, "added KEK version 2") || !strings.Contains(out, "version 2.") {
		t.Fatalf("rotate: %s", out)
	}
	if out := keys("prune-kek"); !strings.Contains(out, "deleted KEK versions [1]") {
		t.Fatalf("prune: %s", out)
	}
	if out := keys("status"); !strings.Contains(out, "[2] (current 2)") || !strings.Contains(out, "keys to re-wrap: 0") {
		t.Fatalf("status: %s", out)
	}
	kek2, err := keyring.LoadKEKFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	kr2, err := keyring.Open(ctx, pool, kek2, domain.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer kr2.Close()
	for _, b := range blobs {
		if got, err := kr2.Open(ctx, b, []byte("ad")); err != nil || string(got) != "text" {
			t.Fatalf("after rotation and prune: %q, %v", got, err)
		}
	}
}
