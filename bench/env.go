package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is what scenarios get: the dev stack's addresses and the size mode.
type Env struct {
	PGURL       string
	WeaviateURL string
	Quick       bool
}

func newEnv(quick bool) (*Env, error) {
	e := &Env{PGURL: os.Getenv("ARKIV_PG_URL"), WeaviateURL: os.Getenv("ARKIV_WEAVIATE_URL"), Quick: quick}
	if e.PGURL == "" {
		return nil, errors.New("ARKIV_PG_URL is not set: run through `make bench`")
	}
	return e, nil
}

// Size returns full, or quick when the run is a smoke run.
func (e *Env) Size(full, quick int) int {
	if e.Quick {
		return quick
	}
	return full
}

// NewDatabase creates a fresh database for one scenario and returns its URL and a drop func.
func (e *Env) NewDatabase(ctx context.Context) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "arkiv_bench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, e.PGURL)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(e.PGURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, e.PGURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

// Percentile returns the p-th percentile (0..100) of ds, sorting a copy.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), ds...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(p / 100 * float64(len(c)-1))
	return c[i]
}

// Median returns the median of xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}
