package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/infra/httpserver"
	"github.com/arkiv/arkiv/infra/postgres"
)

// platformConfig is what the API server needs: where its services are and how to serve.
type platformConfig struct {
	Listen      string
	PGURL       string
	ESDBURL     string
	WeaviateURL string
	KEKFile     string
	KeystoreURL string
	TLSCert     string
	TLSKey      string
	Dev         bool
}

// bindPlatformFlags declares the server flags with their ARKIV_* fallbacks.
func bindPlatformFlags(fs *flag.FlagSet, c *platformConfig) {
	fs.StringVar(&c.Listen, "listen", envOr("ARKIV_LISTEN", "127.0.0.1:8080"), "HTTP listen address (ARKIV_LISTEN)")
	fs.StringVar(&c.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres for read models (ARKIV_PG_URL)")
	fs.StringVar(&c.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&c.WeaviateURL, "weaviate-url", envOr("ARKIV_WEAVIATE_URL", ""), "Weaviate base URL (ARKIV_WEAVIATE_URL)")
	fs.StringVar(&c.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	fs.StringVar(&c.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store Postgres; default: the sibling database <db>_keys of ARKIV_PG_URL (ARKIV_KEYSTORE_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", envOr("ARKIV_TLS_CERT", ""), "TLS certificate file (ARKIV_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", envOr("ARKIV_TLS_KEY", ""), "TLS private key file (ARKIV_TLS_KEY)")
}

// missing names the required settings that are empty.
func (c platformConfig) missing() []string {
	var m []string
	for _, s := range []struct{ name, v string }{
		{"ARKIV_PG_URL", c.PGURL}, {"ARKIV_ESDB_URL", c.ESDBURL},
		{"ARKIV_WEAVIATE_URL", c.WeaviateURL}, {"ARKIV_KEK_FILE", c.KEKFile},
	} {
		if s.v == "" {
			m = append(m, s.name)
		}
	}
	return m
}

// platform is the connected set of services the API runs on.
type platform struct {
	cfg     platformConfig
	pool    *pgxpool.Pool
	es      *esdb.Client
	closers []func()
}

// openPlatform connects to every service and checks that each answers, so that a server
// never starts half-connected.
func openPlatform(ctx context.Context, env *cliEnv, cfg platformConfig) (p *platform, err error) {
	if m := cfg.missing(); len(m) > 0 {
		return nil, fmt.Errorf("not configured: %v must be set (see README: pointing Arkiv at real services)", m)
	}
	p = &platform{cfg: cfg}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	if err := postgres.Migrate(cctx, cfg.PGURL); err != nil {
		return p, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	if p.pool, err = pgxpool.New(ctx, cfg.PGURL); err != nil {
		return p, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	p.closers = append(p.closers, p.pool.Close)

	esCfg, err := esdb.ParseConnectionString(cfg.ESDBURL)
	if err != nil {
		return p, fmt.Errorf("ARKIV_ESDB_URL is not a valid EventStoreDB connection string: %w", err)
	}
	if p.es, err = esdb.NewClient(esCfg); err != nil {
		return p, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
	}
	p.closers = append(p.closers, func() { _ = p.es.Close() })
	if err := pingEventStore(cctx, p.es); err != nil {
		return p, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL is unreachable: %w", err)
	}
	if err := pingWeaviate(cctx, cfg.WeaviateURL); err != nil {
		return p, fmt.Errorf("Weaviate at ARKIV_WEAVIATE_URL is unreachable: %w", err)
	}
	return p, nil
}

// Close releases every connection, last opened first.
func (p *platform) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// checks are the readiness probes of /readyz.
func (p *platform) checks() []httpserver.Check {
	return []httpserver.Check{
		{Name: "postgres", Fn: func(ctx context.Context) error { return p.pool.Ping(ctx) }},
		{Name: "eventstore", Fn: func(ctx context.Context) error { return pingEventStore(ctx, p.es) }},
		{Name: "weaviate", Fn: func(ctx context.Context) error { return pingWeaviate(ctx, p.cfg.WeaviateURL) }},
	}
}

// serve runs the API until ctx ends; ready is called with the base URL once it listens.
func (p *platform) serve(ctx context.Context, env *cliEnv, ready func(url string)) error {
	gql := graphql.NewHandler(&graphql.Resolver{Version: version}, graphql.HandlerOptions{Dev: p.cfg.Dev, Log: env.log})
	srv, err := httpserver.Listen(httpserver.Config{
		Listen: p.cfg.Listen, TLSCert: p.cfg.TLSCert, TLSKey: p.cfg.TLSKey,
		GraphQL: gql, Playground: p.cfg.Dev, Checks: p.checks(), Log: env.log,
	})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(srv.URL())
	}
	env.log.Info("serving", "url", srv.URL())
	return srv.Serve(ctx)
}

// pingEventStore reads the last event of $all: it answers on an empty store too.
func pingEventStore(ctx context.Context, c *esdb.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
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
