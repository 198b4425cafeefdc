package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/arkiv/arkiv/infra/clocktest"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/ledger"
)

// stack is a whole Arkiv started in-process for a test: its own Postgres database, the
// embedded event store, the keyring, authentication, the projection runner, a Weaviate
// class of its own and the GraphQL endpoint over a real HTTP listener.
type stack struct {
	p      *app.Platform
	url    string
	clock  *clocktest.Clock
	dev    bool
	router *llm.Router
	// signing is the ledger's signing key (stackOptions.ledger), nil otherwise.
	signing *ledger.Key
}

type stackOptions struct {
	dev bool
	// ledger runs the verifiable log with a fresh signing key, checkpointing every event.
	ledger bool
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pg := pgtest.NewDatabase(t)
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pgtest.NewDatabase(t), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	clock := &clocktest.Clock{}
	var signing *ledger.Key
	if o.ledger {
		skey, vkey, err := ledger.GenerateKey("arkiv.test/ledger")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "ledger-key")
		if err := ledger.WriteKeyFile(path, skey, vkey); err != nil {
			t.Fatal(err)
		}
		if signing, err = ledger.LoadKeyFile(path); err != nil {
			t.Fatal(err)
		}
	}
	// The operator's catalogue offers "test-model" (the offline answerer, EU); tests add the
	// model servers they start (addModels).
	router := llm.NewRouter(llm.Config{MaxAttempts: 2, BackoffInitial: 20 * time.Millisecond}, nil).
		WithCatalog(domain.ModelCatalog{}.With(domain.CatalogEntry{ID: "test-model", Endpoint: llm.OfflineEndpoint, Region: domain.RegionEU}), nil)
	p, err := app.Open(ctx, app.Config{
		SigningKey: signing, CheckpointEvery: 1, CheckpointInterval: 100 * time.Millisecond,
		PGURL: pg, KeystoreURL: pgtest.NewDatabase(t), ESDBURL: es.ConnectionString(), WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"),
		SearchClass: weaviatetest.ClassName(t, "Gql"), KEKFile: filepath.Join(t.TempDir(), "kek.json"),
		LoginKey: bytes.Repeat([]byte{7}, 32), Dev: o.dev, Projections: true, Version: "test", Clock: clock,
		// Fail fast against a failing model; complete due erasures promptly.
		Models:       router,
		ErasureEvery: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		p.Close()
		sctx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		_ = es.Close(sctx)
	})
	return &stack{p: p, url: srv.URL + "/graphql", clock: clock, dev: o.dev, router: router, signing: signing}
}

// addModels adds entries to the operator's model catalogue of the stack (keyEnv names are
// read through getenv).
func (s *stack) addModels(t testing.TB, getenv func(string) string, entries ...domain.CatalogEntry) {
	t.Helper()
	c := s.router.Catalog()
	for _, e := range entries {
		c = c.With(e)
	}
	s.router.WithCatalog(c, getenv)
}

// gqlError is one error of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// response is a GraphQL response.
type response struct {
	Status int
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
}

// code returns the first error's extensions.code, or "" without errors.
func (r response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a GraphQL operation with a bearer token ("" for none).
func (s *stack) do(t testing.TB, token, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding the response (status %d): %v", resp.StatusCode, err)
	}
	out.Status = resp.StatusCode
	return out
}

// ok runs an operation that must succeed and returns its data.
func (s *stack) ok(t testing.TB, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	r := s.do(t, token, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: unexpected errors %+v", firstLine(query), r.Errors)
	}
	return r.Data
}

// mutate runs a mutation returning {id position}, waits until the read models have it and
// returns the id.
func (s *stack) mutate(t testing.TB, token, query string, vars map[string]any) string {
	t.Helper()
	data := s.ok(t, token, query, vars)
	for _, v := range data {
		m := v.(map[string]any)
		s.wait(t, m["position"].(string))
		return m["id"].(string)
	}
	t.Fatal("no result")
	return ""
}

// wait blocks until every projection has applied the event at position.
func (s *stack) wait(t testing.TB, position string) {
	t.Helper()
	pos, err := strconv.ParseUint(position, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.p.Waiter.WaitFor(ctx, s.p.Runner.Names(), pos, 20*time.Second); err != nil {
		t.Fatalf("waiting for position %d: %v", pos, err)
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '(' || c == '{' {
			return s[:i]
		}
	}
	return s
}

// org is an organisation bootstrapped for a test, with its Admin's API key.
type org struct {
	id       string
	adminID  string
	adminKey string
}

// testSettings are an organisation's settings in tests: local logins allowed (no MFA) and
// "test-model" allow-listed at the offline answerer's endpoint, so assistants answer without
// any network.
func testSettings() domain.OrganizationSettings {
	s := domain.DefaultOrganizationSettings()
	s.MFARequired = false
	s.Password.MinLength = 10
	s.Models = []domain.AllowedModel{{ID: "test-model", Endpoint: llm.OfflineEndpoint,
		Region: domain.RegionEU, MaxClassification: domain.ClassRestricted}}
	return s
}

// newOrg bootstraps an organisation with the given settings and waits for its read models.
func (s *stack) newOrg(t testing.TB, settings domain.OrganizationSettings) org {
	t.Helper()
	res, err := s.p.App.Bootstrap.Handle(context.Background(), commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Org " + uuid.NewString()[:8], AdminEmail: "admin-" + uuid.NewString()[:8] + "@example.org",
		AdminName: "Admin", Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, strconv.FormatUint(res.Position, 10))
	return org{id: res.OrganizationID, adminID: res.AdminUserID, adminKey: res.APIKey}
}

// user invites a user with an organisation role and returns their id and API key.
func (s *stack) user(t testing.TB, o org, role string) (id, key string) {
	t.Helper()
	id = s.mutate(t, o.adminKey, `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"email": "u-" + uuid.NewString()[:8] + "@example.org", "name": "User", "role": role}})
	data := s.ok(t, o.adminKey, `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret prefix position } }`,
		map[string]any{"in": map[string]any{"userId": id}})
	k := data["createApiKey"].(map[string]any)
	s.wait(t, k["position"].(string))
	return id, k["secret"].(string)
}

const (
	mCreateSpace = `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`
	mAddMember   = `mutation($in: AddSpaceMemberInput!) { addSpaceMember(input: $in) { id position } }`
)

// space creates a space as the Creator or Admin whose key is given.
func (s *stack) space(t testing.TB, key string) string {
	t.Helper()
	return s.mutate(t, key, mCreateSpace, map[string]any{"in": map[string]any{"name": "Space", "classification": "INTERNAL"}})
}

// addMember adds a user to a space as its Admin whose key is given.
func (s *stack) addMember(t testing.TB, key, space, user, role string) {
	t.Helper()
	s.mutate(t, key, mAddMember, map[string]any{"in": map[string]any{"spaceId": space, "userId": user, "role": role}})
}
