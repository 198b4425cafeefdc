// Package pgtest gives each integration test a Postgres database of its own on the server
// named by ARKIV_PG_URL (set by `make test`, which starts the dev stack), dropped when the
// test ends, so tests run in parallel and twice in a row.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BaseURL returns ARKIV_PG_URL or fails the test with a message saying how to run it.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("ARKIV_PG_URL")
	if u == "" {
		t.Fatal("ARKIV_PG_URL is not set: run the integration tests through `make test`, " +
			"or set ARKIV_PG_URL to a Postgres server where databases may be created")
	}
	return u
}

// NewDatabase creates an empty database with a unique name, drops it when the test ends, and
// returns its connection URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "arkiv_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to ARKIV_PG_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return WithDatabase(t, base, name)
}

// WithDatabase returns base with its database replaced by name.
func WithDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse ARKIV_PG_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool creates a fresh database and returns a pool on it, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(fmt.Errorf("pgtest: pool: %w", err))
	}
	t.Cleanup(pool.Close)
	return pool
}
