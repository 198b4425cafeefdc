package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/search"
)

// cleanups is what a fixture has set up so far, to be undone in reverse order.
type cleanups struct{ fns []func() }

func (c *cleanups) push(fn func()) { c.fns = append(c.fns, fn) }

// run undoes everything pushed, last first.
func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

// NewKeyring opens a keyring on a fresh key-store database under a fresh KEK file, without
// the cross-process listener (one process per scenario). release closes and drops both.
func (e *Env) NewKeyring(ctx context.Context) (kr *keyring.Keyring, release func(), err error) {
	var undo cleanups
	release = undo.run
	defer func() {
		if err != nil {
			release()
		}
	}()
	url, drop, err := e.NewDatabase(ctx)
	if err != nil {
		return nil, nil, err
	}
	undo.push(drop)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	undo.push(pool.Close)
	dir, err := os.MkdirTemp("", "arkiv-bench-kek")
	if err != nil {
		return nil, nil, err
	}
	undo.push(func() { _ = os.RemoveAll(dir) })
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(dir, "kek.json"))
	if err != nil {
		return nil, nil, err
	}
	if kr, err = keyring.Open(ctx, pool, kek, domain.SystemClock{}, keyring.WithoutListener()); err != nil {
		return nil, nil, err
	}
	undo.push(kr.Close)
	return kr, release, nil
}

// NewIndex creates a throwaway Weaviate collection named prefix plus a random suffix, over
// gRPC when ARKIV_WEAVIATE_GRPC is set; drop deletes the collection.
func (e *Env) NewIndex(ctx context.Context, prefix string) (ix *search.Index, drop func(), err error) {
	if e.WeaviateURL == "" {
		return nil, nil, fmt.Errorf("ARKIV_WEAVIATE_URL is not set: run through `make bench`")
	}
	class := fmt.Sprintf("%s%08x", prefix, rand.Uint32())
	ix, err = search.New(ctx, search.Config{URL: e.WeaviateURL, GRPCAddr: os.Getenv("ARKIV_WEAVIATE_GRPC"),
		Class: class, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, nil, err
	}
	drop = func() {
		_ = ix.Close()
		req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodDelete,
			strings.TrimRight(e.WeaviateURL, "/")+"/v1/schema/"+class, nil)
		if err == nil {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	return ix, drop, nil
}
