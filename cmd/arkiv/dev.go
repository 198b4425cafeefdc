package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arkiv/arkiv/infra/devstack"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/keyring"
)

// cmdDev starts the embedded stack — private Postgres, the embedded EventStoreDB server, a
// local Weaviate — and the API server on it, then prints how to reach and log in to it.
// Ctrl-C stops the API, the event store and every child process.
func cmdDev(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "dev")
	var cfg platformConfig
	bindPlatformFlags(fs, &cfg)
	dataDir := fs.String("data-dir", envOr("ARKIV_DATA_DIR", ".data"), "where the embedded stack keeps its data (ARKIV_DATA_DIR)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Dev = true
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	st, err := devstack.Start(ctx, devstack.Config{
		DataDir: *dataDir, PGURL: cfg.PGURL, WeaviateURL: cfg.WeaviateURL,
		Progress: env.stderr, Log: env.log,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.PGURL, cfg.WeaviateURL = st.PGURL, st.WeaviateURL

	if cfg.ESDBURL == "" {
		es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: st.PGURL, Listen: "127.0.0.1:0", Logger: env.log})
		if err != nil {
			return fmt.Errorf("embedded event store: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = es.Close(sctx)
		}()
		cfg.ESDBURL = es.ConnectionString()
	}
	if cfg.KEKFile == "" {
		cfg.KEKFile = filepath.Join(*dataDir, "kek.json")
		if _, err := keyring.LoadOrCreateKEKFile(cfg.KEKFile); err != nil {
			return err
		}
	}
	if cfg.LoginKey == "" {
		if cfg.LoginKey, err = loadOrCreateLoginKey(filepath.Join(*dataDir, "auth-login-key")); err != nil {
			return err
		}
	}

	p, err := openPlatform(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	login, err := devLogin(ctx, env, p, *dataDir)
	if err != nil {
		return err
	}
	return p.serve(ctx, env, func(url string) {
		fmt.Fprintf(env.stdout, "\nArkiv is running (Ctrl-C stops it and everything it started).\n"+
			"  GraphQL:    %s/graphql\n"+
			"  Playground: %s/\n"+
			"  Ready:      %s/readyz\n"+
			"%s\n", url, url, url, login)
	})
}

// devAdmin is what `arkiv dev` remembers of the organisation it bootstrapped, under the data
// directory with mode 0600, so that a restart can print how to log in again.
type devAdmin struct {
	OrganizationID string `json:"organizationId"`
	AdminUserID    string `json:"adminUserId"`
	APIKey         string `json:"apiKey"`
}

// devLogin bootstraps an organisation and its Admin on an empty store and returns the text
// telling the developer how to authenticate.
func devLogin(ctx context.Context, env *cliEnv, p *platform, dataDir string) (string, error) {
	path := filepath.Join(dataDir, "dev-admin.json")
	res, err := bootstrapOrganization(ctx, env, writeConfig{
		ESDBURL: p.cfg.ESDBURL, PGURL: p.cfg.PGURL, KeystoreURL: p.cfg.KeystoreURL, KEKFile: p.cfg.KEKFile,
	}, "Arkiv Dev", "admin@arkiv.invalid", "Dev Admin", true)
	if err != nil {
		return "", fmt.Errorf("bootstrap the dev organisation: %w", err)
	}
	if res != nil {
		b, _ := json.MarshalIndent(devAdmin{res.OrganizationID, res.AdminUserID, res.APIKey}, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return "", err
		}
	}
	var a devAdmin
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &a) != nil || a.APIKey == "" {
		return "  Log in:     the store was bootstrapped earlier; use the Admin API key printed then\n" +
			"              (or remove " + dataDir + " to start afresh)\n", nil
	}
	return fmt.Sprintf("  Log in:     send the header  Authorization: Bearer %s\n"+
		"              (the dev organisation's Admin API key, kept in %s)\n", a.APIKey, path), nil
}

// loadOrCreateLoginKey returns the login key kept in path (hex), creating a random 32-byte
// key with mode 0600 when the file does not exist, like the KEK.
func loadOrCreateLoginKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	s := hex.EncodeToString(key)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}
