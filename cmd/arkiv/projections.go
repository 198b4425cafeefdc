package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/arkiv/arkiv/infra/auth"
	"os"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/app/eventlog"
	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
)

// readModelProjections lists every projection Arkiv runs, in the order they are rebuilt by
// `arkiv projections rebuild --all` (projections.All: the search index only when d has an
// index, an embedder and an opener; then the ledger's tree).
func readModelProjections(d projections.Deps) ([]engine.Projection, error) {
	all, err := projections.All(d)
	return append(all, ledgerproj.NewProjection()), err
}

// cmdProjections is `arkiv projections status` and `arkiv projections rebuild NAME|--all`.
func cmdProjections(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{"usage: arkiv projections status | rebuild NAME|--all"}
	}
	switch args[0] {
	case "status":
		return projectionsStatus(ctx, env, args[1:])
	case "rebuild":
		return projectionsRebuild(ctx, env, args[1:])
	default:
		return usageError{fmt.Sprintf("unknown projections command %q: want status or rebuild", args[0])}
	}
}

type projectionsFlags struct {
	pgURL, esdbURL, weaviateURL, weaviateGRPC, kekFile, keystoreURL string
}

func (f *projectionsFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.pgURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres for read models (ARKIV_PG_URL)")
	fs.StringVar(&f.esdbURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&f.weaviateGRPC, "weaviate-grpc", envOr("ARKIV_WEAVIATE_GRPC", ""), "Weaviate gRPC address host:port, for faster imports (ARKIV_WEAVIATE_GRPC)")
	fs.StringVar(&f.weaviateURL, "weaviate-url", envOr("ARKIV_WEAVIATE_URL", ""), "Weaviate base URL; with -kek-file enables the search.index projection (ARKIV_WEAVIATE_URL)")
	fs.StringVar(&f.kekFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	fs.StringVar(&f.keystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store Postgres; default <db>_keys of ARKIV_PG_URL (ARKIV_KEYSTORE_URL)")
}

// searchDeps opens what the search.index projection needs (keyring codec, Weaviate index,
// embedder) when Weaviate and the KEK are configured; it fills d and returns a func
// releasing what it opened.
func (f *projectionsFlags) searchDeps(ctx context.Context, env *cliEnv, d *projections.Deps) (func(), error) {
	if f.weaviateURL == "" || f.kekFile == "" {
		return func() {}, nil
	}
	kek, err := keyring.LoadKEKFile(f.kekFile)
	if err != nil {
		return nil, configError{"ARKIV_KEK_FILE", errors.New(domain.PublicMessage(err))}
	}
	dsn, err := keyring.KeystoreURL(f.keystoreURL, f.pgURL)
	if err != nil {
		return nil, err
	}
	if err := keyring.EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	kpool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	kr, err := keyring.Open(ctx, kpool, kek, domain.SystemClock{}, keyring.WithLogger(env.log))
	if err != nil {
		kpool.Close()
		return nil, err
	}
	release := func() { kr.Close(); kpool.Close() }
	ix, err := search.New(ctx, search.Config{URL: f.weaviateURL, GRPCAddr: f.weaviateGRPC})
	if err != nil {
		release()
		return nil, fmt.Errorf("Weaviate at ARKIV_WEAVIATE_URL: %w", err)
	}
	release = func() { _ = ix.Close(); kr.Close(); kpool.Close() }
	ecfg, err := embedding.ConfigFromEnv(os.Getenv)
	if err != nil {
		release()
		return nil, err
	}
	emb, err := embedding.New(ecfg)
	if err != nil {
		release()
		return nil, err
	}
	if ecfg.Kind == "openai" {
		// An external embedder obeys the organisations' model policy here too: each call is
		// checked and recorded by the RecordEmbedding command.
		store, ok := d.Streams.(*eventstore.Store)
		if !ok || ecfg.ModelID == "" {
			release()
			return nil, usageError{"ARKIV_EMBEDDINGS=openai needs ARKIV_EMBEDDINGS_MODEL_ID (the model catalogue's entry of the endpoint)"}
		}
		reg := domain.NewRegistry()
		if err := domain.RegisterEvents(reg); err != nil {
			release()
			return nil, err
		}
		a, err := usecase.NewApp(usecase.Deps{Store: store, Codec: keyring.NewCodec(kr), Clock: domain.SystemClock{}, IDs: randomIDs{},
			Events: reg}, env.log)
		if err != nil {
			release()
			return nil, err
		}
		emb = app.NewPolicyEmbedder(emb, domain.ModelID(ecfg.ModelID), func() *usecase.App { return a })
	}
	d.Opener, d.Index, d.Embedder, d.Chunker = keyring.NewCodec(kr), ix, emb, search.Chunker{}
	return release, nil
}

// openRunner connects to Postgres (migrated) and EventStoreDB and returns a runner over all
// read-model projections, and a func releasing the connections.
func (f *projectionsFlags) openRunner(ctx context.Context, env *cliEnv) (*engine.Runner, func(), error) {
	if f.pgURL == "" || f.esdbURL == "" {
		return nil, nil, usageError{"set ARKIV_PG_URL and ARKIV_ESDB_URL (or --pg-url and --esdb-url)"}
	}
	if err := postgres.Migrate(ctx, f.pgURL); err != nil {
		return nil, nil, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	pool, err := pgxpool.New(ctx, f.pgURL)
	if err != nil {
		return nil, nil, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	client, err := eventstore.Dial(f.esdbURL, env.log)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
	}
	deps := projections.Deps{Streams: eventstore.New(client), Auth: auth.Tables{}}
	releaseSearch, err := f.searchDeps(ctx, env, &deps)
	if err != nil {
		_ = client.Close()
		pool.Close()
		return nil, nil, err
	}
	closeAll := func() { releaseSearch(); _ = client.Close(); pool.Close() }
	all, err := readModelProjections(deps)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	r, err := engine.NewRunner(engine.Config{
		Pool:        pool,
		Log:         eventlog.New(client, esdbwatermill.Options{Logger: env.log}),
		Projections: all,
		Logger:      env.log,
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return r, closeAll, nil
}

func projectionsStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "projections status")
	var f projectionsFlags
	f.bind(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	r, closeAll, err := f.openRunner(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	sts, head, err := r.Status(ctx)
	if err != nil {
		return err
	}
	headStr := "empty"
	if head != nil {
		headStr = head.String()
	}
	fmt.Fprintf(env.stdout, "head of $all: %s\n", headStr)
	w := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tPOSITION\tLAG\tBEHIND\tUPDATED\tERROR")
	for _, s := range sts {
		pos, updated := "-", "-"
		if s.Checkpoint != nil {
			pos = s.Checkpoint.String()
			updated = s.UpdatedAt.UTC().Format(time.RFC3339)
		}
		behind := fmt.Sprint(s.Behind)
		if s.Behind >= engine.BehindCap {
			behind = fmt.Sprintf(">=%d", engine.BehindCap)
		}
		errText := ""
		if s.State == engine.StateFailed {
			errText = s.Error
			if s.FailedEventID != nil && s.FailedAt != nil {
				errText = fmt.Sprintf("at event %s (%s) %s: %s", s.FailedEventID, s.FailedEventType, s.FailedAt, s.Error)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.State, pos, s.Lag, behind, updated, errText)
	}
	if len(sts) == 0 {
		fmt.Fprintln(w, "(no projections registered)")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return auditStreamsStatus(ctx, env, f.pgURL)
}

// auditStreamsStatus prints every live audit stream's delivery: its checkpoint, lag and
// last error (never a secret).
func auditStreamsStatus(ctx context.Context, env *cliEnv, pgURL string) error {
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	defer pool.Close()
	streams, err := readmodels.New(pool, nil).AllAuditStreams(ctx)
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		return nil
	}
	fmt.Fprintln(env.stdout)
	w := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "AUDIT STREAM	ORGANIZATION	KIND	FORMAT	POSITION	LAG	DELIVERED	POISONED	LAST ERROR")
	for _, st := range streams {
		h := st.Health
		lag := fmt.Sprint(h.Lag)
		if h.Lag >= readmodels.LagCap {
			lag = fmt.Sprintf(">=%d", readmodels.LagCap)
		}
		last := h.LastError
		if h.LastErrorAt != nil {
			last = h.LastErrorAt.UTC().Format(time.RFC3339) + " " + last
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", st.ID, st.OrganizationID, st.Kind, st.Format, h.Checkpoint, lag,
			h.Delivered, h.Poisoned, last)
	}
	return w.Flush()
}

func projectionsRebuild(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "projections rebuild")
	var f projectionsFlags
	f.bind(fs)
	all := fs.Bool("all", false, "rebuild every projection")
	// Accept NAME before or after the flags.
	var name string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	if (name == "") == !*all {
		return usageError{"usage: arkiv projections rebuild NAME|--all"}
	}
	r, closeAll, err := f.openRunner(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	names := []string{name}
	if *all {
		names = r.Names()
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(engine.RebuildGCPercent)
	}
	for _, n := range names {
		start := time.Now()
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(env.stderr),
			progressbar.OptionSetDescription("rebuild "+n),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		var done int64
		err := r.Rebuild(ctx, n, func(p engine.RebuildProgress) {
			if p.Head != nil && bar.GetMax64() == -1 {
				// The log's size in events is unknown; positions in the embedded store count
				// events, elsewhere the bar still shows the share of the log scanned.
				bar.ChangeMax64(int64(p.Head.Commit))
			}
			if p.Position != nil {
				_ = bar.Set64(min(int64(p.Position.Commit), bar.GetMax64()))
			}
			done = p.Events
		})
		_ = bar.Finish()
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", n, err)
		}
		el := time.Since(start)
		fmt.Fprintf(env.stdout, "rebuilt %s: %d events in %s (%.0f events/s)\n", n, done, el.Round(time.Millisecond), float64(done)/el.Seconds())
	}
	return nil
}
