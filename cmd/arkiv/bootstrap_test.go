package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/pgtest"
)

func TestBootstrapCommand(t *testing.T) {
	es := eventstoretest.New(t)
	kek := filepath.Join(t.TempDir(), "kek.json")
	keystore := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	args := []string{"bootstrap", "--org", "Region Test", "--admin-email", "dpo@region.example", "--admin-name", "Dana Dpo",
		"--esdb-url", es.URL, "--keystore-url", keystore, "--kek-file", kek}
	if code := run(ctx, env, args); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if len(res) != 3 || domain.ValidateID("org", res["organizationId"]) != nil || domain.ValidateID("user", res["adminUserId"]) != nil ||
		domain.APIKeyPrefix(res["apiKey"]) == "" {
		t.Fatalf("output %v", res)
	}
	// The key that was printed is the one stored (by hash) for the Admin.
	recs, _, err := es.Store.Load(ctx, domain.StreamPrefixUser+res["adminUserId"])
	if err != nil || len(recs) != 1 || strings.Contains(string(recs[0].Data), "dpo@region.example") {
		t.Fatalf("admin stream: %d events, %v", len(recs), err)
	}
	all, err := es.Store.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range all {
		if r.Type == "apikey.created.v1" && strings.Contains(string(r.Data), domain.HashAPIKey(res["apiKey"])) {
			found = true
		}
		if strings.Contains(string(r.Data), res["apiKey"]) {
			t.Fatal("the API key secret is stored")
		}
	}
	if !found {
		t.Fatal("no apikey.created event holds the printed key's hash")
	}

	// Only-if-empty, as `arkiv dev` runs it, does nothing on a store with events.
	again, err := bootstrapOrganization(ctx, env, writeConfig{ESDBURL: es.URL, KeystoreURL: keystore, KEKFile: kek}, "X", "x@y.example", "X", true)
	if err != nil || again != nil {
		t.Fatalf("bootstrap on a non-empty store: %v, %v", again, err)
	}

	errOut.Reset()
	if code := run(ctx, env, []string{"bootstrap", "--org", "X"}); code != 2 {
		t.Fatalf("missing --admin-email: exit %d", code)
	}
}
