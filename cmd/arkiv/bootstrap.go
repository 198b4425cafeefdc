package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
)

// writeConfig locates the services the write side (command handlers) needs.
type writeConfig struct {
	ESDBURL     string
	PGURL       string
	KeystoreURL string
	KEKFile     string
}

// writeSide is an open event store and keyring with the command dependencies over them.
// (The commands package is imported as usecase: main already has a func named commands.)
type writeSide struct {
	Store *eventstore.Store
	Deps  usecase.Deps
	// Keyring and KEK are the key store and key-encryption key the codec seals with.
	Keyring *keyring.Keyring
	KEK     *keyring.FileKEK
	close   []func()
}

// Close releases everything openWriteSide opened, last first.
func (w *writeSide) Close() {
	for i := len(w.close) - 1; i >= 0; i-- {
		w.close[i]()
	}
}

type randomIDs struct{}

func (randomIDs) NewID() string { return uuid.NewString() }

// openWriteSide connects to the event store and the key store (creating the key store's
// database and the KEK file when missing) and builds the command dependencies.
func openWriteSide(ctx context.Context, env *cliEnv, cfg writeConfig) (_ *writeSide, err error) {
	w := &writeSide{}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Store, err = eventstore.Open(cfg.ESDBURL); err != nil {
		return nil, err
	}
	w.close = append(w.close, func() { _ = w.Store.Close() })
	kek, err := keyring.LoadOrCreateKEKFile(cfg.KEKFile)
	if err != nil {
		return nil, configError{"ARKIV_KEK_FILE", err}
	}
	dsn, err := keyring.KeystoreURL(cfg.KeystoreURL, cfg.PGURL)
	if err != nil {
		return nil, err
	}
	if err := keyring.EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	w.close = append(w.close, pool.Close)
	kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{}, keyring.WithLogger(env.log))
	if err != nil {
		return nil, err
	}
	w.close = append(w.close, kr.Close)
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		return nil, err
	}
	w.Keyring, w.KEK = kr, kek
	w.Deps = usecase.Deps{Store: w.Store, Codec: keyring.NewCodec(kr), Clock: domain.SystemClock{}, IDs: randomIDs{}, Events: reg}
	return w, nil
}

// bootstrapOrganization creates an organisation, its first Admin and the Admin's API key.
// With onlyIfEmpty it does nothing (and returns nil) unless the event store holds no
// events: `arkiv dev` calls it that way on every start.
func bootstrapOrganization(ctx context.Context, env *cliEnv, cfg writeConfig, org, email, name string, onlyIfEmpty bool) (*usecase.BootstrapResult, error) {
	w, err := openWriteSide(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if onlyIfEmpty {
		empty, err := w.Store.Empty(ctx)
		if err != nil {
			return nil, err
		}
		if !empty {
			return nil, nil
		}
	}
	app, err := usecase.NewApp(w.Deps, env.log)
	if err != nil {
		return nil, err
	}
	res, err := app.Bootstrap.Handle(ctx, usecase.Bootstrap{CommandID: uuid.NewString(), OrganizationName: org, AdminEmail: email, AdminName: name})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// cmdBootstrap runs `arkiv bootstrap --org NAME --admin-email EMAIL [--admin-name NAME]`
// and prints {"organizationId", "adminUserId", "apiKey"}; the key is shown only this once.
func cmdBootstrap(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "bootstrap")
	org := fs.String("org", "", "name of the organisation to create (required)")
	email := fs.String("admin-email", "", "e-mail address of its first Admin (required)")
	name := fs.String("admin-name", "", "display name of the Admin (default: Administrator)")
	var cfg writeConfig
	fs.StringVar(&cfg.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&cfg.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres URL the key store's default is derived from (ARKIV_PG_URL)")
	fs.StringVar(&cfg.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL; default: <ARKIV_PG_URL database>_keys)")
	fs.StringVar(&cfg.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file, created when missing (ARKIV_KEK_FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *org == "" || *email == "":
		return usageError{"--org and --admin-email are required"}
	case cfg.ESDBURL == "":
		return usageError{"no event store: set ARKIV_ESDB_URL (or --esdb-url)"}
	case cfg.KEKFile == "":
		return usageError{"no key-encryption key: set ARKIV_KEK_FILE (or --kek-file)"}
	case cfg.PGURL == "" && cfg.KeystoreURL == "":
		return usageError{"no key store: set ARKIV_PG_URL or ARKIV_KEYSTORE_URL"}
	}
	if *name == "" {
		*name = "Administrator"
	}
	res, err := bootstrapOrganization(ctx, env, cfg, *org, *email, *name, false)
	var ce configError
	if errors.As(err, &ce) {
		return configError{ce.setting, errors.New(domain.PublicMessage(ce.err))}
	}
	if err != nil {
		return fmt.Errorf("%s (%s)", domain.PublicMessage(err), domain.KindOf(err))
	}
	out := json.NewEncoder(env.stdout)
	out.SetIndent("", "  ")
	return out.Encode(struct {
		OrganizationID string `json:"organizationId"`
		AdminUserID    string `json:"adminUserId"`
		APIKey         string `json:"apiKey"`
	}{res.OrganizationID, res.AdminUserID, res.APIKey})
}
