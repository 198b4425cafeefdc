package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/arkiv/arkiv/infra/esdbserver"
)

// cmdEventStore runs the embedded EventStoreDB server standalone until SIGINT/SIGTERM.
func cmdEventStore(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "eventstore")
	listen := fs.String("listen", envOr("ARKIV_ESDB_LISTEN", "127.0.0.1:2113"), "address to listen on (ARKIV_ESDB_LISTEN)")
	pgURL := fs.String("pg-url", os.Getenv("ARKIV_PG_URL"), "Postgres URL where the events are stored (ARKIV_PG_URL)")
	schema := fs.String("schema", envOr("ARKIV_ESDB_SCHEMA", "esdb"), "Postgres schema of the event store (ARKIV_ESDB_SCHEMA)")
	certFile := fs.String("tls-cert", os.Getenv("ARKIV_ESDB_TLS_CERT"), "TLS certificate file, PEM (ARKIV_ESDB_TLS_CERT); empty serves insecure h2c")
	keyFile := fs.String("tls-key", os.Getenv("ARKIV_ESDB_TLS_KEY"), "TLS private key file, PEM (ARKIV_ESDB_TLS_KEY)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pgURL == "" {
		return usageError{"no storage: set ARKIV_PG_URL (or --pg-url) to the Postgres database where the events are stored"}
	}
	cfg := esdbserver.Config{PGURL: *pgURL, Schema: *schema, Listen: *listen, Logger: env.log, DefaultUsers: true}
	if (*certFile == "") != (*keyFile == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	users, err := parseUsers(os.Getenv("ARKIV_ESDB_USERS"))
	if err != nil {
		return usageError{err.Error()}
	}
	cfg.Users = users
	if cfg.TLS == nil && len(users) > 0 {
		env.log.Warn("ARKIV_ESDB_USERS is ignored without TLS: insecure mode gives every caller full rights")
	}
	if cfg.TLS != nil && users["admin"] == "" {
		// The server lists admin and ops in $users at first start, as EventStoreDB does, but
		// only users with a password in ARKIV_ESDB_USERS can sign in.
		env.log.Warn("no password for admin in ARKIV_ESDB_USERS: nobody can administer the event store")
	}
	srv, err := esdbserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, srv.ConnectionString())
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Close(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// parseUsers parses "user:pass,user2:pass2".
func parseUsers(s string) (map[string]string, error) {
	users := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		u, p, ok := strings.Cut(pair, ":")
		if !ok || u == "" {
			return nil, errors.New("ARKIV_ESDB_USERS: want user:password pairs separated by commas")
		}
		users[u] = p
	}
	return users, nil
}
