// Package app is Arkiv's composition root and holds wiring only: it connects the adapters
// of infra/ to the use cases of commands/, the projections, the query side of readmodels/
// and the GraphQL handler of graphql/, and runs them as one service (projection runner,
// process managers, maintenance). Policy lives in the packages that own it. `arkiv serve`
// and `arkiv dev` run it, the end-to-end tests and the benchmarks start it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/history"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/exportfiles"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/llm"
	"github.com/arkiv/arkiv/infra/natsbus"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/retrieval"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/projections/processmanagers"
	"github.com/arkiv/arkiv/readmodels"
)

// Config locates the services and sets the platform's behaviour.
type Config struct {
	// PGURL is the Postgres of the read models (migrated on Open).
	PGURL string
	// KeystoreURL is the keyring's database; empty derives <db>_keys from PGURL.
	KeystoreURL string
	// ESDBURL is the EventStoreDB connection string.
	ESDBURL string
	// WeaviateURL is Weaviate's base URL; SearchClass its collection (default
	// search.DefaultClass).
	WeaviateURL string
	// WeaviateGRPC, when set (host:port), carries imports and searches over Weaviate's gRPC
	// API, which is faster than GraphQL for both.
	WeaviateGRPC string
	SearchClass  string
	// Embeddings configures the embedding provider (zero: offline hashing).
	Embeddings embedding.Config
	// KEKFile is the key-encryption key file, created when missing.
	KEKFile string
	// LoginKey (32 bytes or more) keys the digests of login names and addresses.
	LoginKey []byte
	// Dev enables GraphQL introspection.
	Dev bool
	// Introspection enables GraphQL introspection outside Dev.
	Introspection bool
	// AllowedOrigins lists the browser origins that may open a WebSocket besides the
	// server's own (see graphql.HandlerOptions).
	AllowedOrigins []string
	// MaxSubscriptionsPerConnection bounds a WebSocket's concurrent operations (default 20).
	MaxSubscriptionsPerConnection int
	// WSInitTimeout is how long a WebSocket may wait before connection_init (default 10 s).
	WSInitTimeout time.Duration
	// Projections runs the projection runner in this process (Run); false leaves it to
	// another process (scale-out). Read-your-writes works either way.
	Projections bool
	// Exclusive runs each worker component (the projection runner, the process managers,
	// the ledger's checkpointer and monitor, scheduled backups) only while this process
	// holds its Postgres advisory lock (postgres.Exclusive), so that several worker
	// processes run each on exactly one of them and fail over within seconds.
	Exclusive bool
	// NATSURL, when set, fans live reply tokens out to every API replica over NATS
	// JetStream (infra/natsbus); empty keeps them in this process.
	NATSURL string
	// Version is reported by the version query.
	Version string
	// ServesTLS reports that the API serves HTTPS itself (ARKIV_TLS_CERT and ARKIV_TLS_KEY),
	// as the DPIA evidence bundle's deployment record states.
	ServesTLS bool
	// Clock defaults to the wall clock; commands, keyring and authentication share it.
	Clock domain.Clock
	// Log defaults to discarding.
	Log *slog.Logger
	// MaintenanceEvery is the period of key destruction and auth clean-up (default 1 min).
	MaintenanceEvery time.Duration
	// Models serves the organisations' allow-listed models to assistants (default: an
	// llm.Router without API keys; `arkiv serve` passes llm.RouterFromEnv).
	Models commands.ModelRouter
	// ErasureEvery is how often the erasure process manager completes erasures whose grace
	// window has passed (default 1 min); RetentionEvery how often the retention sweep runs
	// (default 1 h). Both managers run in Run when Projections is set.
	ErasureEvery, RetentionEvery time.Duration
	// SigningKey signs the ledger's checkpoints; with Projections, Run then runs the
	// checkpointer and the verification after each checkpoint. LedgerKeys are older public
	// keys (after a rotation) that verification also trusts. CheckpointEvery and
	// CheckpointInterval default to 1000 events and 10s.
	SigningKey         *ledger.Key
	LedgerKeys         []note.Verifier
	CheckpointEvery    uint64
	CheckpointInterval time.Duration
	// Backup configures the shred journal and scheduled backups (backup.go).
	Backup BackupConfig
}

// Platform is a connected, ready Arkiv.
type Platform struct {
	cfg     Config
	clock   domain.Clock
	log     *slog.Logger
	Pool    *pgxpool.Pool
	Store   *eventstore.Store
	Keyring *keyring.Keyring
	Codec   *keyring.EventCodec
	kek     *keyring.FileKEK
	App     *commands.App
	AuthPG  *auth.Postgres
	Auth    *auth.Authenticator
	Runner  *engine.Runner
	// Managers are the erasure and retention process managers (nil without Projections).
	Managers *processmanagers.Manager
	Waiter   *engine.Waiter
	Index    *search.Index
	Embedder embedding.Provider
	// Reads is the query side over the read models.
	Reads    *readmodels.Reader
	Resolver *graphql.Resolver
	// Replies streams assistants' tokens to replyStream subscribers of this process, and of
	// every replica through Bus when NATS is configured.
	Replies *graphql.ReplyBroker
	// Bus is the NATS JetStream connection shared by the API replicas (nil without NATSURL).
	Bus *natsbus.Bus
	// Ledger reads the verifiable log: latest checkpoint, proofs, verification outcome.
	Ledger  *ledgerproj.Reader
	ledger  *ledgerRun
	feed    *feed
	handler http.Handler
	// auditExports runs background audit exports and serves their files (Exports).
	auditExports *auditExportJobs
	closers      []func()
}

// Open connects to every service, migrates the read-model database and builds the
// platform. It does not start the projection runner or maintenance: Run does.
func Open(ctx context.Context, cfg Config) (_ *Platform, err error) {
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaintenanceEvery <= 0 {
		cfg.MaintenanceEvery = time.Minute
	}
	if cfg.Models == nil {
		cfg.Models = llm.NewRouter(llm.Config{}, nil)
	}
	if len(cfg.LoginKey) < 32 {
		return nil, errors.New("the login key must be at least 32 bytes (ARKIV_AUTH_LOGIN_KEY)")
	}
	p := &Platform{cfg: cfg, clock: cfg.Clock, log: cfg.Log}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := postgres.Migrate(ctx, cfg.PGURL); err != nil {
		return nil, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	pc, err := pgxpool.ParseConfig(cfg.PGURL)
	if err != nil {
		return nil, fmt.Errorf("ARKIV_PG_URL: %w", err)
	}
	if pc.MaxConns < 16 {
		pc.MaxConns = 16
	}
	pc.AfterConnect = postgres.RegisterJSONCodecs
	if p.Pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	p.closers = append(p.closers, p.Pool.Close)

	// A Store opened from the URL replaces a client that has given up, so the server
	// reconnects by itself after an event-store outage of any length.
	if p.Store, err = eventstore.OpenWithLog(cfg.ESDBURL, cfg.Log); err != nil {
		return nil, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
	}
	p.closers = append(p.closers, func() { _ = p.Store.Close() })

	if err := p.openKeyring(ctx); err != nil {
		return nil, err
	}
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		return nil, err
	}
	if p.Index, err = search.New(ctx, search.Config{URL: cfg.WeaviateURL, GRPCAddr: cfg.WeaviateGRPC, Class: cfg.SearchClass}); err != nil {
		return nil, fmt.Errorf("Weaviate at ARKIV_WEAVIATE_URL: %w", err)
	}
	p.closers = append(p.closers, func() { _ = p.Index.Close() })
	if p.Embedder, err = embedding.New(cfg.Embeddings); err != nil {
		return nil, err
	}
	p.Reads = readmodels.New(p.Pool, p.Codec, readmodels.WithSearch(searchIndex{p.Index}, p.Embedder))

	// SetPassword needs authentication, which needs the commands: accounts gets it below.
	accounts := &accounts{}
	deps := commands.Deps{Store: p.Store, Codec: p.Codec, Clock: cfg.Clock, IDs: randomIDs{}, Events: reg,
		Retriever: retrieval.New(p.Index, p.Embedder), Models: cfg.Models, Accounts: accounts}
	if p.App, err = commands.NewApp(deps, cfg.Log); err != nil {
		return nil, err
	}

	p.AuthPG = auth.NewPostgres(p.Pool)
	if p.Auth, err = auth.New(auth.Config{
		APIKeys: p.AuthPG, Usage: usageRecorder{p.App}, Settings: p.AuthPG, OIDCUsers: p.Reads,
		Sessions: p.AuthPG, Credentials: p.AuthPG, Attempts: p.AuthPG, Auditor: newLoginAuditor(p.App, cfg.LoginKey, cfg.Log),
		Users: userDirectory{p.Reads}, LoginKey: cfg.LoginKey, Clock: cfg.Clock, Log: cfg.Log,
	}); err != nil {
		return nil, err
	}
	accounts.auth = p.Auth

	p.Waiter = engine.NewWaiter(p.Pool, cfg.Log)
	p.closers = append(p.closers, p.Waiter.Close)
	if cfg.Projections {
		all, err := Projections(p.Store, p.Codec, p.Index, p.Embedder)
		if err != nil {
			return nil, err
		}
		if p.Runner, err = engine.NewRunner(engine.Config{
			Pool: p.Pool, Log: eventlog.NewFrom(p.Store, esdbwatermill.Options{Logger: cfg.Log}),
			Projections: all, Logger: cfg.Log,
		}); err != nil {
			return nil, err
		}
		// The process managers follow the log on a runner of their own: they act on the
		// keyring and append through commands, and are never rebuilt with the read models.
		if p.Managers, err = processmanagers.New(processmanagers.Deps{
			Pool: p.Pool, Log: eventlog.NewFrom(p.Store, esdbwatermill.Options{Logger: cfg.Log}),
			Keyring: p.Keyring, App: p.App, Clock: cfg.Clock, Logger: cfg.Log,
			ErasureInterval: cfg.ErasureEvery, RetentionInterval: cfg.RetentionEvery,
			Certifier: certifier{p: p, reg: reg},
		}); err != nil {
			return nil, err
		}
	}
	if err := p.openLedger(); err != nil {
		return nil, err
	}
	p.feed = newFeed(p.Pool, p.Reads, cfg.Log)
	p.closers = append(p.closers, p.feed.close)

	files, err := exportfiles.New(p.Pool, p.clock)
	if err != nil {
		return nil, err
	}
	p.auditExports = &auditExportJobs{p: p, files: files}
	p.Replies = graphql.NewReplyBroker()
	if cfg.NATSURL != "" {
		if err := p.openBus(ctx); err != nil {
			return nil, err
		}
	}
	replay, err := history.NewReplayer(p.Store, p.Codec, reg)
	if err != nil {
		return nil, err
	}
	p.Resolver = &graphql.Resolver{History: replay,
		Version: cfg.Version, App: p.App, Reads: p.Reads, Sessions: p.Auth, Waiter: p.Waiter,
		Projections: queryProjections(), Feed: p.feed, Clock: cfg.Clock, Log: cfg.Log,
		Replies: p.Replies, Ledger: ledgerAPI{p.Ledger}, Checkpoints: p.Ledger, Evidence: newEvidenceJobs(p), AuditExports: p.auditExports,
	}
	gql := graphql.NewHandler(p.Resolver, graphql.HandlerOptions{Dev: cfg.Dev, Log: cfg.Log,
		Authenticate: p.Auth.AuthenticateToken, RemoteIP: auth.RemoteIP, Introspection: cfg.Introspection,
		AllowedOrigins: cfg.AllowedOrigins, MaxSubscriptionsPerConnection: cfg.MaxSubscriptionsPerConnection,
		WSInitTimeout: cfg.WSInitTimeout})
	p.handler = p.Auth.Middleware(gql)
	return p, nil
}

func (p *Platform) openKeyring(ctx context.Context) error {
	kek, err := keyring.LoadOrCreateKEKFile(p.cfg.KEKFile)
	if err != nil {
		return err
	}
	dsn, err := keyring.KeystoreURL(p.cfg.KeystoreURL, p.cfg.PGURL)
	if err != nil {
		return err
	}
	if err := keyring.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	p.closers = append(p.closers, pool.Close)
	opts, err := p.keyringOptions()
	if err != nil {
		return err
	}
	kr, err := keyring.Open(ctx, pool, kek, p.clock, append(opts, keyring.WithLogger(p.log))...)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, kr.Close)
	p.Keyring, p.Codec, p.kek = kr, keyring.NewCodec(kr), kek
	return nil
}

// Handler is the /graphql handler: authentication, then GraphQL.
func (p *Platform) Handler() http.Handler { return p.handler }

// Exports serves GET /exports/{id}, the files of background exports, authenticated like the
// GraphQL API.
func (p *Platform) Exports() http.Handler { return p.Auth.Middleware(p.auditExports) }

// Run runs the projection runner and the erasure and retention process managers (when
// configured) and the periodic maintenance — key destruction after erasure grace windows,
// expired sessions and old login attempts — until ctx ends; then it waits for them to stop:
// the runners finish the event at hand, the managers their current round.
func (p *Platform) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if p.Runner != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.exclusively(ctx, LockProjections, p.Runner.Run); err != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrStopped) {
				p.log.Error("projection runner stopped", "err", err)
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	if p.Managers != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.exclusively(ctx, LockProcessManagers, p.Managers.Run); err != nil && ctx.Err() == nil {
				p.log.Error("process managers stopped", "err", err)
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	p.runLedger(ctx, &wg)
	if p.cfg.Backup.Dir != "" && p.cfg.Projections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.exclusively(ctx, LockBackups, func(ctx context.Context) error { p.runBackups(ctx); return nil })
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.cfg.MaintenanceEvery)
		defer t.Stop()
		for {
			p.maintain(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// maintain destroys keys whose grace window has ended and deletes dead sessions and old
// login attempts.
func (p *Platform) maintain(ctx context.Context) {
	now := p.clock.Now()
	if n, err := p.Keyring.DestroyDue(ctx); err != nil && ctx.Err() == nil {
		p.log.Error("destroying due keys failed", "kind", domain.KindOf(err).String())
	} else if n > 0 {
		p.log.Info("destroyed keys after their grace window", "subjects", n)
	}
	if _, err := p.AuthPG.DeleteDeadSessions(ctx, now); err != nil && ctx.Err() == nil {
		p.log.Error("deleting dead sessions failed", "kind", domain.KindOf(err).String())
	}
	if _, err := p.AuthPG.DeleteOldAttempts(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
		p.log.Error("deleting old login attempts failed", "kind", domain.KindOf(err).String())
	}
	if _, err := p.auditExports.files.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
		p.log.Error("deleting expired export files failed", "kind", domain.KindOf(err).String())
	}
}

// Checks are the readiness probes: Postgres, the event store and Weaviate.
func (p *Platform) Checks() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"postgres":   func(ctx context.Context) error { return p.Pool.Ping(ctx) },
		"eventstore": p.Store.Ping,
		"weaviate":   func(ctx context.Context) error { return p.Index.Ready(ctx) },
		"nats": func(ctx context.Context) error {
			if p.Bus == nil {
				return nil
			}
			return p.Bus.Ping(ctx)
		},
	}
}

// Close releases every connection, last opened first.
func (p *Platform) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

func newID() string { return uuid.NewString() }

type randomIDs struct{}

func (randomIDs) NewID() string { return newID() }

// userDirectory tells authentication whether a user may act, from the users read model
// (not deactivated, not erased).
type userDirectory struct{ r *readmodels.Reader }

func (u userDirectory) UserActive(ctx context.Context, orgID, userID string) (bool, error) {
	_, active, err := u.r.OrgRole(ctx, orgID, userID)
	return active, err
}

// usageRecorder records API key uses through the RecordAPIKeyUse command, as the key's
// owner (a user; assistants' keys have no user to act as and are not recorded).
type usageRecorder struct{ app *commands.App }

func (u usageRecorder) RecordAPIKeyUse(ctx context.Context, keyID, orgID string) error {
	pr, ok := auth.FromContext(ctx)
	if !ok || pr.UserID == "" {
		return nil
	}
	id := newID()
	_, err := u.app.RecordAPIKeyUse.Handle(ctx, commands.RecordAPIKeyUse{
		Meta: commands.Meta{CommandID: id, ActorID: pr.UserID, CorrelationID: id}, KeyID: keyID})
	return err
}

// loginAuditor records local login outcomes in the organisation's access log through the
// RecordLogin command, as the system actor: access.login_failed.v1 and
// access.login_succeeded.v1 with the login digest, the reason and the pseudonym of the
// client address (auth.AddressPseudonyms), never the login name, the password or the
// address.
type loginAuditor struct {
	app       *commands.App
	addresses auth.AddressPseudonyms
	log       *slog.Logger
}

func newLoginAuditor(app *commands.App, loginKey []byte, log *slog.Logger) loginAuditor {
	return loginAuditor{app: app, addresses: auth.NewAddressPseudonyms(loginKey), log: log}
}

// record runs RecordLogin. Authentication does not wait on the audit failing: an unknown
// organisation is only logged (nothing to append to), other failures are logged as errors.
func (a loginAuditor) record(ctx context.Context, c commands.RecordLogin) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id := newID()
	c.Meta = commands.Meta{CommandID: id, ActorID: domain.SystemActor, CorrelationID: id}
	if _, err := a.app.RecordLogin.Handle(ctx, c); err != nil {
		level := slog.LevelError
		if k := domain.KindOf(err); k == domain.KindNotFound || k == domain.KindInvalid {
			level = slog.LevelInfo
		}
		a.log.LogAttrs(ctx, level, "login outcome not recorded", slog.String("kind", domain.KindOf(err).String()))
	}
}

// LoginFailed implements auth.LoginAuditor.
func (a loginAuditor) LoginFailed(ctx context.Context, orgID, loginDigest, reason, remoteIP string) {
	a.record(ctx, commands.RecordLogin{OrganizationID: orgID, LoginDigest: loginDigest, Reason: reason,
		RemoteIPDigest: a.addresses.Of(orgID, remoteIP)})
}

// LoginSucceeded implements auth.LoginAuditor.
func (a loginAuditor) LoginSucceeded(ctx context.Context, orgID, userID, loginDigest, remoteIP string) {
	a.record(ctx, commands.RecordLogin{OrganizationID: orgID, UserID: userID, LoginDigest: loginDigest,
		RemoteIPDigest: a.addresses.Of(orgID, remoteIP)})
}

// accounts serves commands.SetPassword through authentication's local accounts; it is set
// once the authenticator exists, which needs the commands.
type accounts struct {
	auth *auth.Authenticator
}

func (a *accounts) SetPassword(ctx context.Context, orgID, userID, login, password string) error {
	return a.auth.SetPassword(ctx, orgID, userID, login, password)
}

func (a *accounts) ResetPassword(ctx context.Context, orgID, userID, login, password string) error {
	return a.auth.ResetPassword(ctx, orgID, userID, login, password)
}

func (a *accounts) HasPassword(ctx context.Context, orgID, userID string) (bool, error) {
	return a.auth.HasPassword(ctx, orgID, userID)
}

func (a *accounts) CheckPassword(ctx context.Context, orgID, userID, password string) error {
	return a.auth.CheckPassword(ctx, orgID, userID, password)
}

// searchIndex serves readmodels.SearchIndex over the Weaviate index.
type searchIndex struct{ ix *search.Index }

func (s searchIndex) SearchChunks(ctx context.Context, spaceID, query string, vector []float32, limit int) ([]readmodels.SearchHit, error) {
	hits, err := s.ix.Search(ctx, spaceID, query, vector, search.SearchOptions{Limit: limit})
	out := make([]readmodels.SearchHit, len(hits))
	for i, h := range hits {
		out[i] = readmodels.SearchHit{ChunkID: h.ChunkID, DocumentID: h.DocumentID, ChunkIndex: h.ChunkIndex, Text: h.Text, Score: h.Score}
	}
	return out, err
}
