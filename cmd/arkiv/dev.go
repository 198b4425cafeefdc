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

	"github.com/arkiv/arkiv/app/eventlog"
	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/devstack"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/projections"
)

// cmdDev starts the embedded stack — private Postgres, the embedded EventStoreDB server, a
// private NATS server with JetStream, a local Weaviate — and the API server on it, then prints how to reach and log in to it.
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
	if os.Getenv("ARKIV_SHRED_JOURNAL") == "" && !flagSet(fs, "shred-journal") {
		cfg.Backup.ShredJournal = filepath.Join(*dataDir, "shred-journal")
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	st, err := devstack.Start(ctx, devstack.Config{
		DataDir: *dataDir, BinDir: envOr("ARKIV_BIN_DIR", ""), PGURL: cfg.PGURL, WeaviateURL: cfg.WeaviateURL,
		NATSURL: cfg.NATSURL, Progress: env.stderr, Log: env.log,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.PGURL, cfg.WeaviateURL, cfg.NATSURL = st.PGURL, st.WeaviateURL, st.NATSURL
	if cfg.WeaviateGRPC == "" {
		cfg.WeaviateGRPC = st.WeaviateGRPC
	}

	if cfg.ESDBURL == "" {
		es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: st.PGURL, Listen: "127.0.0.1:0", Logger: env.log, DefaultUsers: true})
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
	if cfg.SigningKeyFile == "" {
		cfg.SigningKeyFile = filepath.Join(*dataDir, "ledger-signing-key")
		if _, err := os.Stat(cfg.SigningKeyFile); os.IsNotExist(err) {
			if err := createSigningKey(cfg.SigningKeyFile, "arkiv.dev/ledger"); err != nil {
				return err
			}
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
		// The banner hands out a key and ids: print it once the read models know them, so
		// the first request made with them succeeds.
		go func() {
			if err := waitCaughtUp(ctx, env, p, 30*time.Second); err != nil {
				env.log.Warn("projections have not caught up with the bootstrap yet; the key works once they have", "err", err)
			}
			fmt.Fprintf(env.stdout, "\nArkiv is running (Ctrl-C stops it and everything it started).\n"+
				"  GraphQL:    %s/graphql\n"+
				"  Playground: %s/\n"+
				"  Console:    %s/console/ (sign in with the API key below)\n"+
				"  Ready:      %s/readyz\n"+
				"%s\n", url, url, url, url, login)
		}()
	})
}

// waitCaughtUp waits, within bound, until the read models have applied every event that is
// in the log now.
func waitCaughtUp(ctx context.Context, env *cliEnv, p *platform, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	head, err := eventlog.New(p.Store.Client(), esdbwatermill.Options{Logger: env.log}).Head(ctx)
	if err != nil || head == nil {
		return err
	}
	return p.Waiter.WaitFor(ctx, projections.QueryNames(), head.Commit, bound)
}

// The demo `arkiv dev` sets up in its organisation, so that `make run` has an assistant that
// answers with no internet access: the offline answerer allow-listed, a space with it
// enabled, a guide document and an assistant.
const (
	demoSpaceName     = "Getting started"
	demoAssistantName = "Arkiv guide"
	// demoDocument is long enough to be indexed as several chunks: an assistant never sends
	// a whole document, so a one-chunk document would only ever be quoted by halves.
	demoDocument = "Arkiv keeps every action as an event. Messages sent, documents ingested, roles granted, " +
		"retention changed, access denied and exports made are all appended to EventStoreDB, and the read models " +
		"and the search index are projections of that log. Every event carries the hash of its predecessor in its " +
		"stream, so tampering with the history is detected, and the log stays verifiable after erasure because " +
		"the hashes are computed over ciphertext.\n\n" +
		"Assistants answer questions with excerpts of the documents of their own space. The question is searched " +
		"in the space's index, the best excerpts are selected within the assistant's limits, and a whole document " +
		"is never sent to a model. Models hosted outside the EU receive fewer and shorter excerpts, and an " +
		"organisation can allow only models hosted in the EU or on premises. A model is used only when it is on " +
		"the organisation's allow-list, enabled in the space and cleared for the space's classification.\n\n" +
		"The offline model needs no internet access. It answers by quoting the sentences of the excerpts that are " +
		"most similar to the question and cites the documents they come from. It is what this demo space uses, so " +
		"a fresh development stack has a working assistant without any API key or network connection. Point the " +
		"organisation's allow-list at an OpenAI-compatible endpoint to use a real model instead.\n\n" +
		"Administrators can read what was sent to which model, and what it answered, with the modelInvocations " +
		"query; every such read is itself recorded in the audit log. Erasure hides a person, a document, a " +
		"conversation or a whole space at once, keeps it restorable during a grace window, and then destroys its " +
		"encryption keys, which makes every copy of its data unreadable everywhere, backups included."
)

// devDemo allow-lists the offline model {llm.OfflineModel, llm.OfflineEndpoint, ONPREM,
// RESTRICTED} through ChangeOrganizationSettings and creates the demo space with the model
// enabled, a guide document and an assistant, as the dev organisation's Admin. Command ids
// derive from the organisation, so running it again (after a failed start) changes nothing
// twice. It returns the space and assistant ids.
func devDemo(ctx context.Context, p *platform, a devAdmin) (space, assistant string, err error) {
	app := p.App
	m := func(step string) usecase.Meta {
		id := "dev-demo:" + a.OrganizationID + ":" + step
		return usecase.Meta{CommandID: id, ActorID: a.AdminUserID, CorrelationID: "dev-demo:" + a.OrganizationID}
	}
	settings := domain.DefaultOrganizationSettings()
	settings.Models = append(settings.Models, domain.AllowedModel{ID: llm.OfflineModel, Endpoint: llm.OfflineEndpoint,
		Region: domain.RegionOnPrem, MaxClassification: domain.ClassRestricted})
	if _, err := app.ChangeOrganizationSettings.Handle(ctx, usecase.ChangeOrganizationSettings{Meta: m("settings"), Settings: settings}); err != nil {
		return "", "", fmt.Errorf("allow-list the offline model: %w", err)
	}
	sp, err := app.CreateSpace.Handle(ctx, usecase.CreateSpace{Meta: m("space"), Name: demoSpaceName, Classification: domain.ClassInternal})
	if err != nil {
		return "", "", fmt.Errorf("create the demo space: %w", err)
	}
	if _, err := app.EnableSpaceModels.Handle(ctx, usecase.EnableSpaceModels{Meta: m("models"), SpaceID: sp.ID,
		Models: []domain.ModelID{llm.OfflineModel}}); err != nil {
		return "", "", fmt.Errorf("enable the offline model: %w", err)
	}
	if _, err := app.IngestDocument.Handle(ctx, usecase.IngestDocument{Meta: m("document"), SpaceID: sp.ID,
		Title: "About Arkiv", ContentType: "text/plain", Text: demoDocument}); err != nil {
		return "", "", fmt.Errorf("ingest the demo document: %w", err)
	}
	as, err := app.CreateAssistant.Handle(ctx, usecase.CreateAssistant{Meta: m("assistant"), SpaceID: sp.ID,
		Spec: domain.AssistantSpec{Name: demoAssistantName, Instructions: "Answer from the space's documents and cite them.",
			Model: llm.OfflineModel, LogModelPayloads: true}})
	if err != nil {
		return "", "", fmt.Errorf("create the demo assistant: %w", err)
	}
	return sp.ID, as.ID, nil
}

// devAdmin is what `arkiv dev` remembers of the organisation it bootstrapped, under the data
// directory with mode 0600, so that a restart can print how to log in again.
type devAdmin struct {
	OrganizationID string `json:"organizationId"`
	AdminUserID    string `json:"adminUserId"`
	APIKey         string `json:"apiKey"`
	// DemoSpaceID and DemoAssistantID are the "Getting started" space and its assistant.
	DemoSpaceID     string `json:"demoSpaceId,omitempty"`
	DemoAssistantID string `json:"demoAssistantId,omitempty"`
}

// devLogin bootstraps an organisation and its Admin on an empty store, sets up the demo space
// and assistant (devDemo), and returns the text telling the developer how to authenticate
// and what to talk to.
func devLogin(ctx context.Context, env *cliEnv, p *platform, dataDir string) (string, error) {
	path := filepath.Join(dataDir, "dev-admin.json")
	res, err := bootstrapOrganization(ctx, env, writeConfig{
		ESDBURL: p.cfg.ESDBURL, PGURL: p.cfg.PGURL, KeystoreURL: p.cfg.KeystoreURL, KEKFile: p.cfg.KEKFile,
	}, "Arkiv Dev", "admin@arkiv.invalid", "Dev Admin", true)
	if err != nil {
		return "", fmt.Errorf("bootstrap the dev organisation: %w", err)
	}
	save := func(a devAdmin) error {
		b, _ := json.MarshalIndent(a, "", "  ")
		return os.WriteFile(path, append(b, '\n'), 0o600)
	}
	if res != nil {
		if err := save(devAdmin{OrganizationID: res.OrganizationID, AdminUserID: res.AdminUserID, APIKey: res.APIKey}); err != nil {
			return "", err
		}
	}
	var a devAdmin
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &a) != nil || a.APIKey == "" {
		return "  Log in:     the store was bootstrapped earlier; use the Admin API key printed then\n" +
			"              (or remove " + dataDir + " to start afresh)\n", nil
	}
	if a.DemoSpaceID == "" || a.DemoAssistantID == "" {
		if a.DemoSpaceID, a.DemoAssistantID, err = devDemo(ctx, p, a); err != nil {
			return "", err
		}
		if err := save(a); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("  Log in:     send the header  Authorization: Bearer %s\n"+
		"              (the dev organisation's Admin API key, kept in %s)\n"+
		"  Demo:       space %q  %s\n"+
		"              assistant %q  %s (offline model: answers from the space's documents, no internet)\n"+
		"              startConversation(input: {assistantId: \"%s\"}), then sendMessage\n",
		a.APIKey, path, demoSpaceName, a.DemoSpaceID, demoAssistantName, a.DemoAssistantID, a.DemoAssistantID), nil
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
