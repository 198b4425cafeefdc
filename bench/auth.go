package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/postgres"
)

// authScenarios measures issue 7's authentication: the per-request cost of each credential
// kind against Postgres, and the cost of a local login with production argon2id parameters.
func authScenarios() []Scenario {
	return []Scenario{
		{Name: "auth/authenticate", Issue: 7, Run: benchAuthenticate},
		{Name: "auth/login", Issue: 7, Run: benchLogin},
	}
}

type benchUsage struct{}

func (benchUsage) RecordAPIKeyUse(context.Context, string, string) error { return nil }

type benchAuditor struct{}

func (benchAuditor) LoginFailed(context.Context, string, string, string, string)    {}
func (benchAuditor) LoginSucceeded(context.Context, string, string, string, string) {}

type benchUsers struct{}

func (benchUsers) ResolveOIDCUser(context.Context, string, string, string, string) (string, error) {
	return "user-1", nil
}

// UserActive counts every user as active: the benchmarks measure authentication alone.
func (benchUsers) UserActive(context.Context, string, string) (bool, error) { return true, nil }

// benchAuth opens an authenticator over a fresh, migrated database.
func benchAuth(ctx context.Context, env *Env, params auth.Argon2Params) (*auth.Authenticator, *auth.Postgres, func(), error) {
	dsn, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := postgres.Migrate(ctx, dsn); err != nil {
		drop()
		return nil, nil, nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		drop()
		return nil, nil, nil, err
	}
	pg := auth.NewPostgres(pool)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a, err := auth.New(auth.Config{APIKeys: pg, Usage: benchUsage{}, Settings: pg, OIDCUsers: benchUsers{},
		Sessions: pg, Credentials: pg, Attempts: pg, Auditor: benchAuditor{}, Users: benchUsers{}, LoginKey: key, Argon2: params})
	if err != nil {
		pool.Close()
		drop()
		return nil, nil, nil, err
	}
	return a, pg, func() { pool.Close(); drop() }, nil
}

func benchAuthenticate(ctx context.Context, env *Env) ([]Result, error) {
	a, pg, done, err := benchAuth(ctx, env, auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		return nil, err
	}
	defer done()

	// A loopback OIDC provider with an ES256 key.
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: sk.Public(), KeyID: "k", Algorithm: "ES256", Use: "sig"}}})
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()

	s := auth.AuthSettings{SessionIdleTimeout: 30 * time.Minute, OIDC: []auth.OIDCProvider{{Issuer: srv.URL, Audience: "arkiv"}}}
	if err := pg.SetAuthSettings(ctx, "org-1", s); err != nil {
		return nil, err
	}
	apiKey, prefix, _, err := domain.GenerateAPIKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := pg.PutAPIKey(ctx, auth.APIKeyRecord{KeyID: "key-1", OrganizationID: "org-1", OwnerKind: domain.KeyOwnerUser,
		OwnerID: "user-1", Hash: auth.HashAPIKey(apiKey)}, prefix, time.Now()); err != nil {
		return nil, err
	}
	if err := a.SetPassword(ctx, "org-1", "user-1", "bench@example.org", "correct horse 42 staple"); err != nil {
		return nil, err
	}
	session, _, err := a.Login(ctx, "org-1", "bench@example.org", "correct horse 42 staple", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: sk, KeyID: "k"}}, nil)
	if err != nil {
		return nil, err
	}
	claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "aud": "arkiv", "sub": "s",
		"exp": time.Now().Add(time.Hour).Unix(), "amr": []string{"mfa"}})
	jws, err := signer.Sign(claims)
	if err != nil {
		return nil, err
	}
	jwt, err := jws.CompactSerialize()
	if err != nil {
		return nil, err
	}

	n := env.Size(5000, 300)
	var out []Result
	for _, c := range []struct{ name, token string }{{"api-key", apiKey}, {"session", session}, {"oidc", jwt}} {
		if _, err := a.AuthenticateToken(ctx, c.token); err != nil { // warm: provider discovery, JWKS
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		ds := make([]time.Duration, n)
		for i := range ds {
			start := time.Now()
			if _, err := a.AuthenticateToken(ctx, c.token); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			ds[i] = time.Since(start)
		}
		out = append(out,
			Result{Metric: c.name + " p50", Value: float64(Percentile(ds, 50).Microseconds()) / 1000, Unit: "ms"},
			Result{Metric: c.name + " p99", Value: float64(Percentile(ds, 99).Microseconds()) / 1000, Unit: "ms"})
	}
	return out, nil
}

func benchLogin(ctx context.Context, env *Env) ([]Result, error) {
	a, pg, done, err := benchAuth(ctx, env, auth.DefaultArgon2Params)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := pg.SetAuthSettings(ctx, "org-1", auth.AuthSettings{SessionIdleTimeout: 30 * time.Minute}); err != nil {
		return nil, err
	}
	if err := a.SetPassword(ctx, "org-1", "user-1", "bench@example.org", "correct horse 42 staple"); err != nil {
		return nil, err
	}
	n := env.Size(20, 3)
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if _, _, err := a.Login(ctx, "org-1", "bench@example.org", "correct horse 42 staple", "127.0.0.1"); err != nil {
			return nil, err
		}
		ds[i] = time.Since(start)
	}
	return []Result{{Metric: "login p50 (argon2id m=64MiB t=3 p=2)", Value: float64(Percentile(ds, 50).Microseconds()) / 1000, Unit: "ms"}}, nil
}
