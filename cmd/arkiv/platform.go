package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/domain"
	arkivgql "github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/console"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/httpserver"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/llm"
)

// platformConfig is what the API server needs: where its services are and how to serve.
type platformConfig struct {
	Listen       string
	PGURL        string
	ESDBURL      string
	WeaviateURL  string
	WeaviateGRPC string
	// NATSURL is the NATS server with JetStream (ARKIV_NATS_URL) that API replicas fan live
	// events out over; empty keeps them in-process.
	NATSURL     string
	KEKFile     string
	KeystoreURL string
	TLSCert     string
	TLSKey      string
	// InsecureHTTP lets serve listen without TLS (behind a proxy that terminates it);
	// AllowPlaintext names the services (postgres, weaviate, esdb, models) it may reach
	// without TLS.
	InsecureHTTP   bool
	AllowPlaintext string
	LoginKey       string
	Projections    bool
	// Role is what serve runs: api, workers or all (roleAll…).
	Role string
	// ErasureEvery is the erasure process manager's round (ARKIV_ERASURE_EVERY).
	ErasureEvery time.Duration
	Dev          bool
	// SigningKeyFile is the ledger's signing key (ARKIV_SIGNING_KEY_FILE), LedgerKeys older
	// public key files trusted after a rotation, CheckpointEvery/CheckpointInterval the
	// checkpoint cadence.
	SigningKeyFile     string
	LedgerKeys         string
	CheckpointEvery    string
	CheckpointInterval string
	// Backup is the shred journal and the backup schedule (backup.go).
	Backup app.BackupConfig
	// Introspection, AllowedOrigins (comma-separated) and MaxSubscriptions configure the
	// GraphQL endpoint.
	Introspection  bool
	AllowedOrigins string
	// PublicURL is the server's external base URL, for identity providers' redirect URI
	// (PublicURL + /auth/callback); empty derives it from each request.
	PublicURL        string
	MaxSubscriptions int
	// RateLimitsPerKey and RateLimitsPerAddress bound the expensive operations
	// (graphql.ParseRateLimits).
	RateLimitsPerKey, RateLimitsPerAddress string
}

// bindPlatformFlags declares the server flags with their ARKIV_* fallbacks.
func bindPlatformFlags(fs *flag.FlagSet, c *platformConfig) {
	fs.StringVar(&c.Listen, "listen", envOr("ARKIV_LISTEN", "127.0.0.1:8080"), "HTTP listen address (ARKIV_LISTEN)")
	fs.StringVar(&c.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres for read models (ARKIV_PG_URL)")
	fs.StringVar(&c.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&c.WeaviateURL, "weaviate-url", envOr("ARKIV_WEAVIATE_URL", ""), "Weaviate base URL (ARKIV_WEAVIATE_URL)")
	fs.StringVar(&c.WeaviateGRPC, "weaviate-grpc", envOr("ARKIV_WEAVIATE_GRPC", ""), "Weaviate gRPC address host:port, for faster imports and searches (ARKIV_WEAVIATE_GRPC)")
	fs.StringVar(&c.NATSURL, "nats-url", envOr("ARKIV_NATS_URL", ""), "NATS server with JetStream, for several API replicas; empty: one process, in-process fan-out (ARKIV_NATS_URL)")
	fs.StringVar(&c.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	fs.StringVar(&c.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store Postgres; default: the sibling database <db>_keys of ARKIV_PG_URL (ARKIV_KEYSTORE_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", envOr("ARKIV_TLS_CERT", ""), "TLS certificate file (ARKIV_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", envOr("ARKIV_TLS_KEY", ""), "TLS private key file (ARKIV_TLS_KEY)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", envOr("ARKIV_INSECURE_HTTP", "false") == "true", "serve plain HTTP without TLS, behind a proxy that terminates TLS; logged as a warning (ARKIV_INSECURE_HTTP)")
	fs.StringVar(&c.AllowPlaintext, "allow-plaintext", envOr("ARKIV_ALLOW_PLAINTEXT", ""), "services serve may reach without TLS, comma-separated: postgres, weaviate, esdb, models (ARKIV_ALLOW_PLAINTEXT)")
	fs.StringVar(&c.LoginKey, "auth-login-key", envOr("ARKIV_AUTH_LOGIN_KEY", ""), "secret (32+ bytes, base64 or hex) keying login digests; the same on every replica (ARKIV_AUTH_LOGIN_KEY)")
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key file, mode 0600 (`arkiv audit generate-key`) (ARKIV_SIGNING_KEY_FILE)")
	fs.StringVar(&c.LedgerKeys, "ledger-keys", envOr("ARKIV_LEDGER_KEYS", ""), "older ledger public key files trusted after a key rotation, comma-separated (ARKIV_LEDGER_KEYS)")
	fs.StringVar(&c.CheckpointEvery, "checkpoint-every", envOr("ARKIV_CHECKPOINT_EVERY", "1000"), "sign a ledger checkpoint after this many new events (ARKIV_CHECKPOINT_EVERY)")
	fs.StringVar(&c.CheckpointInterval, "checkpoint-interval", envOr("ARKIV_CHECKPOINT_INTERVAL", "10s"), "sign a ledger checkpoint at least this often while events arrive (ARKIV_CHECKPOINT_INTERVAL)")
	bindBackupFlags(fs, &c.Backup)
	fs.BoolVar(&c.Introspection, "graphql-introspection", envOr("ARKIV_GRAPHQL_INTROSPECTION", "false") == "true", "answer GraphQL introspection queries; always on in dev (ARKIV_GRAPHQL_INTROSPECTION)")
	fs.StringVar(&c.PublicURL, "public-url", envOr("ARKIV_PUBLIC_URL", ""), "the server's external base URL; identity providers redirect to it + /auth/callback (ARKIV_PUBLIC_URL; default: from each request)")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", envOr("ARKIV_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed to open a WebSocket besides the server's own; requests without Origin are always allowed (ARKIV_ALLOWED_ORIGINS)")
	maxSubs, _ := strconv.Atoi(envOr("ARKIV_MAX_SUBSCRIPTIONS_PER_CONNECTION", "20"))
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions-per-connection", maxSubs, "operations one WebSocket may run at once (ARKIV_MAX_SUBSCRIPTIONS_PER_CONNECTION)")
	fs.StringVar(&c.RateLimitsPerKey, "rate-limits-per-key", envOr("ARKIV_RATE_LIMITS_PER_KEY", arkivgql.DefaultRateLimitsPerKey), "rate limits per credential, class=N/unit[:burst],… for login, search, sendMessage, export; class=off lifts one (ARKIV_RATE_LIMITS_PER_KEY)")
	fs.StringVar(&c.RateLimitsPerAddress, "rate-limits-per-address", envOr("ARKIV_RATE_LIMITS_PER_ADDRESS", arkivgql.DefaultRateLimitsPerAddress), "rate limits per client address, same form (ARKIV_RATE_LIMITS_PER_ADDRESS)")
	fs.BoolVar(&c.Projections, "projections", envOr("ARKIV_PROJECTIONS", "true") == "true", "older spelling of --role: false is --role api (ARKIV_PROJECTIONS)")
	fs.DurationVar(&c.ErasureEvery, "erasure-every", envDuration("ARKIV_ERASURE_EVERY", time.Minute), "how often the erasure process manager completes erasures whose grace window has passed (ARKIV_ERASURE_EVERY)")
	fs.StringVar(&c.Role, "role", envOr("ARKIV_ROLE", roleAll), "what this process runs: api (GraphQL), workers (projections, process managers, ledger, backups; each on one worker at a time) or all (ARKIV_ROLE)")
}

// missing names the required settings that are empty.
func (c platformConfig) missing() []string {
	var m []string
	for _, s := range []struct{ name, v string }{
		{"ARKIV_PG_URL", c.PGURL}, {"ARKIV_ESDB_URL", c.ESDBURL},
		{"ARKIV_WEAVIATE_URL", c.WeaviateURL}, {"ARKIV_KEK_FILE", c.KEKFile}, {"ARKIV_AUTH_LOGIN_KEY", c.LoginKey},
	} {
		if s.v == "" {
			m = append(m, s.name)
		}
	}
	return m
}

// platform is the connected set of services the API runs on (package app).
type platform struct {
	cfg platformConfig
	*app.Platform
}

// openPlatform connects to every service and checks that each answers, so that a server
// never starts half-connected.
func openPlatform(ctx context.Context, env *cliEnv, cfg platformConfig) (*platform, error) {
	if m := cfg.missing(); len(m) > 0 {
		return nil, usageError{fmt.Sprintf("not configured: %v must be set (see README: pointing Arkiv at real services)", m)}
	}
	key, err := parseLoginKey(cfg.LoginKey)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if err := cfg.backupErr(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.KEKFile); err == nil {
		if _, err := keyring.LoadKEKFile(cfg.KEKFile); err != nil {
			return nil, configError{"ARKIV_KEK_FILE", errors.New(domain.PublicMessage(err))}
		}
	}
	emb, err := embedding.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	models, err := llm.RouterFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.transportErr(models.Catalog().Entries(), emb); err != nil {
		return nil, err
	}
	if !cfg.Dev && cfg.TLSCert == "" {
		env.log.Warn("serving plain HTTP (--insecure-http): credentials and content cross the network unencrypted unless a proxy terminates TLS")
	}
	if allowed := strings.TrimSpace(cfg.AllowPlaintext); allowed != "" && !cfg.Dev {
		env.log.Warn("connecting without TLS to the services allowed by --allow-plaintext", "services", allowed)
	}
	var limits arkivgql.RateLimits
	if limits.PerKey, err = arkivgql.ParseRateLimits(cfg.RateLimitsPerKey); err != nil {
		return nil, usageError{"ARKIV_RATE_LIMITS_PER_KEY: " + err.Error()}
	}
	if limits.PerAddress, err = arkivgql.ParseRateLimits(cfg.RateLimitsPerAddress); err != nil {
		return nil, usageError{"ARKIV_RATE_LIMITS_PER_ADDRESS: " + err.Error()}
	}
	lc, err := cfg.ledgerConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Dev {
		// `arkiv dev` offers the offline answerer in its catalogue (devDemo allow-lists it).
		models.WithCatalog(models.Catalog().With(domain.CatalogEntry{ID: llm.OfflineModel,
			Endpoint: llm.OfflineEndpoint, Region: domain.RegionOnPrem}), nil)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pingWeaviate(cctx, cfg.WeaviateURL); err != nil {
		return nil, fmt.Errorf("Weaviate at ARKIV_WEAVIATE_URL is unreachable: %w", err)
	}
	p, err := app.Open(cctx, app.Config{
		PGURL: cfg.PGURL, KeystoreURL: cfg.KeystoreURL, ESDBURL: cfg.ESDBURL, WeaviateURL: cfg.WeaviateURL, WeaviateGRPC: cfg.WeaviateGRPC,
		Embeddings: emb, KEKFile: cfg.KEKFile, LoginKey: key, Dev: cfg.Dev, Projections: cfg.Projections,
		Models: models, Version: version, ServesTLS: cfg.TLSCert != "" && cfg.TLSKey != "", Log: env.log, Backup: backupConfig(cfg),
		SigningKey: lc.SigningKey, LedgerKeys: lc.LedgerKeys, CheckpointEvery: lc.CheckpointEvery, CheckpointInterval: lc.CheckpointInterval,
		Introspection: cfg.Introspection, AllowedOrigins: strings.Split(cfg.AllowedOrigins, ","),
		MaxSubscriptionsPerConnection: cfg.MaxSubscriptions, RateLimits: limits,
		Exclusive: true, NATSURL: cfg.NATSURL, ErasureEvery: cfg.ErasureEvery,
	})
	if err != nil {
		return nil, err
	}
	if err := p.Store.Ping(cctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL is unreachable: %w", err)
	}
	return &platform{cfg: cfg, Platform: p}, nil
}

// envDuration reads a positive duration from the environment; def when it is unset or is
// not one.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// parseLoginKey decodes ARKIV_AUTH_LOGIN_KEY: 32 bytes or more, base64 or hex.
func parseLoginKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, errors.New("ARKIV_AUTH_LOGIN_KEY must be 32 bytes or more, base64 or hex encoded")
}

// checks are the readiness probes of /readyz.
func (p *platform) checks() []httpserver.Check {
	var out []httpserver.Check
	names := []string{"postgres", "eventstore", "weaviate"}
	if p.Bus != nil {
		names = append(names, "nats")
	}
	for _, name := range names {
		out = append(out, httpserver.Check{Name: name, Fn: p.Checks()[name]})
	}
	return out
}

// serve runs the API, the projection runner and maintenance until ctx ends; ready is
// called with the base URL once it listens. On shutdown the HTTP server drains first, then
// the runner stops.
func (p *platform) serve(ctx context.Context, env *cliEnv, ready func(url string)) error {
	secure := p.cfg.TLSCert != "" || strings.HasPrefix(p.cfg.PublicURL, "https://")
	cons := console.New(console.Config{GraphQL: p.Handler(), Exports: p.Exports(), Secure: secure, Log: env.log})
	hc := httpserver.Config{
		Listen: p.cfg.Listen, TLSCert: p.cfg.TLSCert, TLSKey: p.cfg.TLSKey,
		GraphQL: p.Handler(), Exports: p.Exports(), Playground: p.cfg.Dev, Checks: p.checks(), Log: env.log,
		Console: cons,
		SCIM:    p.SCIMHandler(),
		SignIn:  p.Auth.SignInHandler(auth.SignInOptions{PublicURL: p.cfg.PublicURL, Secure: secure, Pages: cons}),
	}
	if p.cfg.Role == roleWorkers {
		// A worker serves its health and readiness only.
		hc.GraphQL, hc.Exports, hc.Console, hc.SignIn, hc.Playground = nil, nil, nil, nil, false
	}
	srv, err := httpserver.Listen(hc)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	if ready != nil {
		ready(srv.URL())
	}
	env.log.Info("serving", "url", srv.URL(), "role", p.cfg.Role, "nats", p.Bus != nil)
	if every, err := time.ParseDuration(os.Getenv("ARKIV_RUNTIME_STATS_INTERVAL")); err == nil && every > 0 {
		go logRuntimeStats(runCtx, env, every)
	}
	serveErr := srv.Serve(ctx)
	stopRun()
	if err := <-runErr; err != nil && serveErr == nil {
		return err
	}
	return serveErr
}

func pingWeaviate(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/.well-known/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ready check answered %d", resp.StatusCode)
	}
	return nil
}

// backupConfig is serve's backup settings; backups are signed with the ledger's key.
func backupConfig(cfg platformConfig) app.BackupConfig {
	b := cfg.Backup
	b.SigningKeyFile = cfg.SigningKeyFile
	return b
}

// logRuntimeStats logs the goroutine count and heap size every interval until ctx ends
// (ARKIV_RUNTIME_STATS_INTERVAL; the soak test reads them for leaks).
func logRuntimeStats(ctx context.Context, env *cliEnv, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			env.log.Info("runtime stats", "goroutines", runtime.NumGoroutine(), "heap_bytes", m.HeapAlloc)
		}
	}
}
