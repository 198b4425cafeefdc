// Package weaviatetest gives each integration test its own Weaviate collection on the server
// named by ARKIV_WEAVIATE_URL (set by `make test`, which starts the dev stack), deleted when
// the test ends, so tests run in parallel and twice in a row.
package weaviatetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// URL returns ARKIV_WEAVIATE_URL or fails the test with a message saying how to run it.
func URL(t testing.TB) string {
	t.Helper()
	u := strings.TrimRight(os.Getenv("ARKIV_WEAVIATE_URL"), "/")
	if u == "" {
		t.Fatal("ARKIV_WEAVIATE_URL is not set: run the integration tests through `make test`, " +
			"or set ARKIV_WEAVIATE_URL to a Weaviate server (anonymous access, no vectorizer)")
	}
	return u
}

// ClassName returns a collection name unique to this test run, e.g. "TestChunk3f9a0c1d2e4b",
// and deletes that collection, with all its tenants, when the test ends.
func ClassName(t testing.TB, prefix string) string {
	t.Helper()
	base := URL(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	if prefix == "" {
		prefix = "Test"
	}
	name := strings.ToUpper(prefix[:1]) + prefix[1:] + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/v1/schema/"+name, nil)
		if err != nil {
			t.Logf("weaviatetest: delete %s: %v", name, err)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("weaviatetest: delete %s: %v", name, err)
			return
		}
		resp.Body.Close()
	})
	return name
}

// TenantName returns a tenant (space) name unique to this test run.
func TenantName(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "space-" + hex.EncodeToString(b[:])
}
