package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/backup"
	"github.com/arkiv/arkiv/infra/devstack"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/keyring"
)

// backupScenarios measure `arkiv backup` (issue 19) against pg_dump / pg_restore of the same
// databases in the same run.
func backupScenarios() []Scenario {
	return []Scenario{{Name: "backup-restore", Issue: 19, Run: benchBackupRestore}}
}

// benchBackupRestore seeds an embedded event store with 1,000,000 events and a key store with
// 100,000 keys (quick: 20,000 and 2,000), then, three times each (quick: once), takes a
// backup (backup.Create: both databases, encrypted) and loads it into fresh databases
// (schema creation by the binary's migrations + backup.Load; the verification and the
// projection rebuild of `arkiv backup restore` are not timed), and does the same with
// pg_dump -Fc and pg_restore. It reports medians and the ratios (target: within 1.5×).
func benchBackupRestore(ctx context.Context, env *Env) ([]Result, error) {
	events, keys := env.Size(1_000_000, 20_000), env.Size(100_000, 2_000)
	runs := env.Size(3, 1)
	bin, err := devstack.PostgresBinDir()
	if err != nil {
		return nil, err
	}
	var undo cleanups
	defer undo.run()
	esURL, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	undo.push(drop)
	ksURL, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	undo.push(drop)
	dir, err := os.MkdirTemp("", "arkiv-bench-backup")
	if err != nil {
		return nil, err
	}
	undo.push(func() { _ = os.RemoveAll(dir) })
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(dir, "kek.json"))
	if err != nil {
		return nil, err
	}
	if err := createSchemas(ctx, esURL, ksURL, kek); err != nil {
		return nil, err
	}
	if err := esdbSeed(ctx, esURL, events); err != nil {
		return nil, fmt.Errorf("seed events: %w", err)
	}
	if err := seedKeys(ctx, ksURL, keys); err != nil {
		return nil, fmt.Errorf("seed keys: %w", err)
	}

	var ours, oursLoad, dump, restore []float64
	var verify float64
	for r := 0; r < runs; r++ {
		out := filepath.Join(dir, fmt.Sprintf("b%d", r))
		start := time.Now()
		m, err := backup.Create(ctx, backup.Config{PGURL: esURL, KeystoreURL: ksURL, Keys: kek, Version: "bench"}, out)
		if err != nil {
			return nil, err
		}
		ours = append(ours, time.Since(start).Seconds())
		if r == 0 {
			start = time.Now()
			if _, _, err := backup.Verify(ctx, out, backup.VerifyOptions{Keys: kek}); err != nil {
				return nil, err
			}
			verify = time.Since(start).Seconds()
		}

		es2, dropES, err := env.NewDatabase(ctx)
		if err != nil {
			return nil, err
		}
		ks2, dropKS, err := env.NewDatabase(ctx)
		if err != nil {
			dropES()
			return nil, err
		}
		start = time.Now()
		err = createSchemas(ctx, es2, ks2, kek)
		if err == nil {
			err = backup.Load(ctx, out, m, kek, backup.Target{PGURL: es2, KeystoreURL: ks2}, 4, nil)
		}
		oursLoad = append(oursLoad, time.Since(start).Seconds())
		if err == nil {
			err = sameShape(ctx, esURL, es2)
		}
		dropES()
		dropKS()
		_ = os.RemoveAll(out)
		if err != nil {
			return nil, err
		}

		start = time.Now()
		for i, u := range []string{esURL, ksURL} {
			if err := pgTool(ctx, filepath.Join(bin, "pg_dump"), "-Fc", "-f", filepath.Join(dir, fmt.Sprintf("dump%d", i)), "-d", u); err != nil {
				return nil, err
			}
		}
		dump = append(dump, time.Since(start).Seconds())
		es3, dropES, err := env.NewDatabase(ctx)
		if err != nil {
			return nil, err
		}
		ks3, dropKS, err := env.NewDatabase(ctx)
		if err != nil {
			dropES()
			return nil, err
		}
		start = time.Now()
		for i, u := range []string{es3, ks3} {
			if err = pgTool(ctx, filepath.Join(bin, "pg_restore"), "--no-owner", "-d", u, filepath.Join(dir, fmt.Sprintf("dump%d", i))); err != nil {
				break
			}
		}
		restore = append(restore, time.Since(start).Seconds())
		dropES()
		dropKS()
		if err != nil {
			return nil, err
		}
	}
	b, l, d, rs := Median(ours), Median(oursLoad), Median(dump), Median(restore)
	size := fmt.Sprintf("%d events, %d keys", events, keys)
	return []Result{
		{Metric: "backup create (" + size + ")", Value: b, Unit: "s"},
		{Metric: "pg_dump -Fc of the same databases", Value: d, Unit: "s"},
		{Metric: "backup / pg_dump", Value: b / d, Unit: "x", Target: "<= 1.5", Met: Met(b/d <= 1.5)},
		{Metric: "backup verify with the KEK (decrypt, key store against log)", Value: verify, Unit: "s"},
		{Metric: "restore load (" + size + ")", Value: l, Unit: "s"},
		{Metric: "pg_restore of the same dumps", Value: rs, Unit: "s"},
		{Metric: "restore / pg_restore", Value: l / rs, Unit: "x", Target: "<= 1.5", Met: Met(l/rs <= 1.5)},
	}, nil
}

// createSchemas creates the embedded event store's schema (by starting and stopping the
// server) and the key store's (keyring migrations).
func createSchemas(ctx context.Context, esURL, ksURL string, kek *keyring.FileKEK) error {
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: esURL, Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	if err := es.Close(ctx); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, ksURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{}, keyring.WithoutListener())
	if err != nil {
		return err
	}
	kr.Close()
	return nil
}

// sameShape checks that the restored event store has the source's rows and indexes.
func sameShape(ctx context.Context, src, dst string) error {
	shape := func(url string) (string, error) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return "", err
		}
		defer conn.Close(ctx)
		var s string
		err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM esdb.events)::text || ' rows; ' ||
			(SELECT string_agg(indexdef, '; ' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'esdb')`).Scan(&s)
		return s, err
	}
	a, err := shape(src)
	if err != nil {
		return err
	}
	b, err := shape(dst)
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("the restored event store differs: %q, want %q", b, a)
	}
	return nil
}

// seedKeys bulk-loads n key rows (random 60-byte "wrapped" values: the bytes a wrapped DEK
// takes) by COPY.
func seedKeys(ctx context.Context, url string, n int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	now := time.Now()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"keyring_keys"}, []string{"subject", "dek_version", "kek_version", "wrapped", "created_at", "state"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			w := make([]byte, 60)
			_, _ = rand.Read(w)
			i++
			return []any{fmt.Sprintf("user:%08d-0000-4000-8000-000000000000", i), int64(1), int64(1), w, now, "active"}, nil
		}))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `VACUUM ANALYZE keyring_keys`)
	return err
}

func pgTool(ctx context.Context, path string, args ...string) error {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(path), err, out)
	}
	return nil
}
