package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/backup"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/shredjournal"
	"github.com/arkiv/arkiv/projections"
)

// defaultJournal is ARKIV_SHRED_JOURNAL's default: shred-journal under ARKIV_DATA_DIR.
func defaultJournal() string {
	return envOr("ARKIV_SHRED_JOURNAL", filepath.Join(envOr("ARKIV_DATA_DIR", ".data"), "shred-journal"))
}

// bindBackupFlags declares serve's shred journal and backup schedule flags.
func bindBackupFlags(fs *flag.FlagSet, c *app.BackupConfig) {
	fs.StringVar(&c.ShredJournal, "shred-journal", defaultJournal(), "shred journal: every key destruction is written here before it commits; keep it apart from backups (ARKIV_SHRED_JOURNAL)")
	fs.StringVar(&c.Dir, "backup-dir", envOr("ARKIV_BACKUP_DIR", ""), "take scheduled backups into this directory (ARKIV_BACKUP_DIR)")
	fs.Func("backup-schedule", "daily (default), hourly or a Go duration such as 6h (ARKIV_BACKUP_SCHEDULE)", func(s string) error {
		d, err := backup.ParseSchedule(s)
		c.Every = d
		return err
	})
	fs.Func("backup-retention", "delete backups older than this: days (14d, the default) or a duration (ARKIV_BACKUP_RETENTION)", func(s string) error {
		d, err := backup.ParseRetention(s)
		c.Retention = d
		return err
	})
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// backupErr parses ARKIV_BACKUP_SCHEDULE and ARKIV_BACKUP_RETENTION when no flag set them.
func (c *platformConfig) backupErr() error {
	if c.Backup.Every == 0 {
		d, err := backup.ParseSchedule(os.Getenv("ARKIV_BACKUP_SCHEDULE"))
		if err != nil {
			return usageError{domain.PublicMessage(err)}
		}
		c.Backup.Every = d
	}
	if c.Backup.Dir != "" && c.Backup.ShredJournal != "" {
		j, _ := filepath.Abs(c.Backup.ShredJournal)
		d, _ := filepath.Abs(c.Backup.Dir)
		if rel, err := filepath.Rel(d, j); err == nil && !strings.HasPrefix(rel, "..") {
			return usageError{"ARKIV_SHRED_JOURNAL must not be inside ARKIV_BACKUP_DIR: the journal must survive the loss of the backups, and restoring from them"}
		}
	}
	if c.Backup.Retention == 0 {
		d, err := backup.ParseRetention(os.Getenv("ARKIV_BACKUP_RETENTION"))
		if err != nil {
			return usageError{domain.PublicMessage(err)}
		}
		c.Backup.Retention = d
	}
	return nil
}

// cmdBackup is `arkiv backup create|list|verify|restore`.
func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{"usage: arkiv backup create --out DIR | list [--dir DIR] | verify DIR | restore DIR"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return backupCreate(ctx, env, args)
	case "list":
		return backupList(env, args)
	case "verify":
		return backupVerify(ctx, env, args)
	case "restore":
		return backupRestore(ctx, env, args)
	}
	return usageError{fmt.Sprintf("unknown backup command %q: want create, list, verify or restore", sub)}
}

// backupFlags are the connection flags the backup commands share.
type backupFlags struct {
	pgURL, esdbURL, keystoreURL, kekFile, journal, signingKey, schema string
}

func (f *backupFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.pgURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres of the read models and the embedded event store (ARKIV_PG_URL)")
	fs.StringVar(&f.esdbURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string, for a real cluster's head position (ARKIV_ESDB_URL)")
	fs.StringVar(&f.keystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database; default <db>_keys of ARKIV_PG_URL (ARKIV_KEYSTORE_URL)")
	fs.StringVar(&f.kekFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file; the backup key is derived from it (ARKIV_KEK_FILE)")
	fs.StringVar(&f.journal, "shred-journal", defaultJournal(), "shred journal (ARKIV_SHRED_JOURNAL)")
	fs.StringVar(&f.signingKey, "signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger note private key (ARKIV_SIGNING_KEY_FILE)")
	fs.StringVar(&f.schema, "esdb-schema", "esdb", "schema of the embedded event store's tables")
}

func (f *backupFlags) kek() (*keyring.FileKEK, error) {
	if f.kekFile == "" {
		return nil, usageError{"set ARKIV_KEK_FILE (or --kek-file): backups are encrypted under a key derived from it"}
	}
	k, err := keyring.LoadKEKFile(f.kekFile)
	if err != nil {
		return nil, configError{"ARKIV_KEK_FILE", errors.New(domain.PublicMessage(err))}
	}
	return k, nil
}

// positional splits DIR (before or after the flags) from args.
func positional(fs *flag.FlagSet, args []string, what string) (string, error) {
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usageError{err.Error()}
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return "", usageError{fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	if dir == "" {
		return "", usageError{"usage: arkiv " + what}
	}
	return dir, nil
}

func backupCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup create")
	var f backupFlags
	f.bind(fs)
	out := fs.String("out", "", "directory to write the backup into (must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"usage: arkiv backup create --out DIR"}
	}
	if f.pgURL == "" {
		return usageError{"set ARKIV_PG_URL (or --pg-url)"}
	}
	kek, err := f.kek()
	if err != nil {
		return err
	}
	dsn, err := keyring.KeystoreURL(f.keystoreURL, f.pgURL)
	if err != nil {
		return err
	}
	var signer note.Signer
	if f.signingKey != "" {
		if signer, err = backup.NewSigner(f.signingKey); err != nil {
			return configError{"ARKIV_SIGNING_KEY_FILE", errors.New("not a note private key")}
		}
	}
	cfg := backup.Config{PGURL: f.pgURL, Schema: f.schema, KeystoreURL: dsn, Keys: kek, Signer: signer,
		Journal: f.journal, Version: version, Projections: projectionNames(), Log: env.log}
	if f.esdbURL != "" {
		c, err := eventstore.Dial(f.esdbURL, env.log)
		if err != nil {
			return fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
		}
		defer c.Close()
		cfg.ExternalHead = backup.ClientHead(c)
	}
	start := time.Now()
	m, err := backup.Create(ctx, cfg, *out)
	if err != nil {
		return err
	}
	var size int64
	for _, fl := range m.Files {
		size += fl.Size
	}
	pos := "empty"
	if m.LogPosition != nil {
		pos = fmt.Sprintf("C:%d/P:%d", m.LogPosition.Commit, m.LogPosition.Prepare)
	}
	fmt.Fprintf(env.stdout, "backup %s written to %s: %s event store, log position %s, %d files, %d bytes, signed %v, in %s\n",
		m.ID, *out, m.Backend, pos, len(m.Files), size, signer != nil, time.Since(start).Round(time.Millisecond))
	if m.Backend == backup.BackendExternal {
		fmt.Fprintln(env.stdout, "the event store is an external cluster: pair this backup with the cluster's own backup taken after it (see README)")
	}
	return nil
}

// projectionNames are the projections a restore rebuilds.
func projectionNames() []string { return append(projections.QueryNames(), projections.NameSearch) }

func backupList(env *cliEnv, args []string) error {
	fs := newFlags(env, "backup list")
	dir := fs.String("dir", envOr("ARKIV_BACKUP_DIR", ""), "backup directory (ARKIV_BACKUP_DIR)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"set ARKIV_BACKUP_DIR (or --dir)"}
	}
	list, err := backup.List(*dir)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "DIR\tID\tCREATED\tBACKEND\tPOSITION\tFILES\tBYTES\tSIGNED")
	for _, e := range list {
		pos := "-"
		if p := e.Manifest.LogPosition; p != nil {
			pos = fmt.Sprintf("C:%d/P:%d", p.Commit, p.Prepare)
		}
		_, serr := os.Stat(filepath.Join(e.Dir, backup.SignatureFile))
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%v\n", filepath.Base(e.Dir), e.Manifest.ID,
			e.Manifest.CreatedAt.Format(time.RFC3339), e.Manifest.Backend, pos, len(e.Manifest.Files), e.Bytes, serr == nil)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "(no backups)")
	}
	return w.Flush()
}

// verifierFlags resolve the public key a signature is checked with.
func verifierOf(publicKey, signingKeyFile string) (note.Verifier, error) {
	if publicKey == "" && signingKeyFile != "" {
		vk, err := backup.VerifierKeyOf(signingKeyFile)
		if err != nil {
			return nil, configError{"ARKIV_SIGNING_KEY_FILE", err}
		}
		publicKey = vk
	}
	if publicKey == "" {
		return nil, nil
	}
	if raw, err := os.ReadFile(publicKey); err == nil {
		publicKey = string(raw)
	}
	v, err := note.NewVerifier(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, usageError{"--public-key: not a note verifier key: " + err.Error()}
	}
	return v, nil
}

func backupVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup verify")
	kekFile := fs.String("kek-file", envOr("ARKIV_KEK_FILE", ""), "KEK file: decrypt every file and check the key store against the log (ARKIV_KEK_FILE)")
	pub := fs.String("public-key", envOr("ARKIV_SIGNING_PUBLIC_KEY", ""), "note verifier key (or a file holding it), as `arkiv audit public-key` prints it (ARKIV_SIGNING_PUBLIC_KEY)")
	signing := fs.String("signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger note private key; its public half checks the signature when --public-key is not set (ARKIV_SIGNING_KEY_FILE)")
	dir, err := positional(fs, args, "backup verify DIR")
	if err != nil {
		return err
	}
	v, err := verifierOf(*pub, *signing)
	if err != nil {
		return err
	}
	opt := backup.VerifyOptions{Verifier: v, RequireSignature: v != nil}
	if *kekFile != "" {
		k, err := keyring.LoadKEKFile(*kekFile)
		if err != nil {
			return configError{"ARKIV_KEK_FILE", errors.New(domain.PublicMessage(err))}
		}
		opt.Keys = k
	}
	m, rep, err := backup.Verify(ctx, dir, opt)
	if err != nil {
		return fmt.Errorf("backup %s does not verify: %w", dir, err)
	}
	sig := "unsigned"
	switch {
	case rep.SignatureChecked:
		sig = "signature verified"
	case rep.Signed:
		sig = "signed, signature NOT checked (pass --public-key)"
	}
	fmt.Fprintf(env.stdout, "backup %s: %d files, %d bytes, hashes match, %s\n", m.ID, rep.Files, rep.Bytes, sig)
	if rep.ManifestAuthenticated {
		fmt.Fprintln(env.stdout, "manifest authenticated under the backup key (manifest.mac)")
	}
	if rep.Decrypted {
		fmt.Fprintf(env.stdout, "decrypted: %d live keys, %d destroyed, the log refers to %d subjects, all in the key store\n",
			rep.Keys, rep.Destroyed, rep.Subjects)
	} else {
		fmt.Fprintln(env.stdout, "not decrypted (set ARKIV_KEK_FILE to check the contents and the key store against the log)")
	}
	return nil
}

func backupRestore(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup restore")
	var f backupFlags
	f.bind(fs)
	weaviateURL := fs.String("weaviate-url", envOr("ARKIV_WEAVIATE_URL", ""), "Weaviate base URL: the search index is rebuilt too (ARKIV_WEAVIATE_URL)")
	weaviateGRPC := fs.String("weaviate-grpc", envOr("ARKIV_WEAVIATE_GRPC", ""), "Weaviate gRPC address (ARKIV_WEAVIATE_GRPC)")
	pub := fs.String("public-key", envOr("ARKIV_SIGNING_PUBLIC_KEY", ""), "note verifier key the backup's signature is checked with (ARKIV_SIGNING_PUBLIC_KEY)")
	allowMissing := fs.Bool("allow-missing-journal", false, "restore although the shred journal is missing or broken: keys destroyed after the backup come back (recorded in the log)")
	dir, err := positional(fs, args, "backup restore DIR")
	if err != nil {
		return err
	}
	if f.pgURL == "" {
		return usageError{"set ARKIV_PG_URL (or --pg-url)"}
	}
	kek, err := f.kek()
	if err != nil {
		return err
	}
	v, err := verifierOf(*pub, f.signingKey)
	if err != nil {
		return err
	}
	// 1. The backup is whole, authentic and consistent.
	m, _, err := backup.Verify(ctx, dir, backup.VerifyOptions{Keys: kek, Verifier: v, RequireSignature: v != nil})
	if err != nil {
		return fmt.Errorf("backup %s does not verify, nothing restored: %w", dir, err)
	}
	fmt.Fprintf(env.stderr, "backup %s (%s) verified\n", m.ID, m.CreatedAt.Format(time.RFC3339))

	// 2. The shred journal is there and whole, or the operator overrides that, on record.
	entries, problem := readJournal(f.journal, m)
	if problem != "" {
		if !*allowMissing {
			return fmt.Errorf("the shred journal %s: %s; restoring without it would bring back every key destroyed after the backup. "+
				"Find the journal (ARKIV_SHRED_JOURNAL), or pass --allow-missing-journal to restore anyway (the override is recorded in the log)", f.journal, problem)
		}
		env.log.Warn("restoring WITHOUT a verified shred journal: keys destroyed after the backup may come back", "problem", problem, "backup", m.ID)
		fmt.Fprintf(env.stderr, "WARNING: --allow-missing-journal: %s; keys destroyed after the backup are NOT destroyed again\n", problem)
	}

	// 3. Empty databases with the binary's schema.
	dsn, err := keyring.KeystoreURL(f.keystoreURL, f.pgURL)
	if err != nil {
		return err
	}
	for _, u := range []string{f.pgURL, dsn} {
		if err := keyring.EnsureDatabase(ctx, u); err != nil {
			return err
		}
	}
	if err := postgres.Migrate(ctx, f.pgURL); err != nil {
		return fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	kpool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	defer kpool.Close()
	kr, err := keyring.Open(ctx, kpool, kek, domain.SystemClock{}, keyring.WithoutListener(), keyring.WithLogger(env.log))
	if err != nil {
		return err
	}
	defer kr.Close()
	embedded := m.Backend == backup.BackendEmbedded
	if embedded {
		// Starting the embedded server creates its schema; it is stopped again before the
		// load, since a running server's writer would not see the loaded rows.
		es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: f.pgURL, Schema: f.schema, Listen: "127.0.0.1:0", Logger: env.log})
		if err != nil {
			return fmt.Errorf("embedded event store: %w", err)
		}
		if err := es.Close(ctx); err != nil {
			return err
		}
	}

	// 4. Load.
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(env.stderr), progressbar.OptionSetDescription("restore"),
		progressbar.OptionShowCount(), progressbar.OptionSetItsString("rows"), progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	start := time.Now()
	err = backup.Load(ctx, dir, m, kek, backup.Target{PGURL: f.pgURL, Schema: f.schema, KeystoreURL: dsn}, 4, func(done, total int64) {
		if bar.GetMax64() != total {
			bar.ChangeMax64(total)
		}
		_ = bar.Set64(done)
	})
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("restore %s: %w", dir, err)
	}
	fmt.Fprintf(env.stdout, "loaded backup %s in %s\n", m.ID, time.Since(start).Round(time.Millisecond))

	// 5. Erased stays erased: destroy again every key the journal lists, before anything serves.
	var ds []keyring.Destruction
	for _, e := range entries {
		if e.Kind == shredjournal.KindDestroyed {
			ds = append(ds, keyring.Destruction{Subject: e.Subject, DestroyedAt: e.At, Reason: e.Reason})
		}
	}
	again, err := kr.Redestroy(ctx, ds)
	if err != nil {
		return fmt.Errorf("replaying the shred journal: %w (the restored key store must not be served)", err)
	}
	fmt.Fprintf(env.stdout, "shred journal replayed: %d destructions listed, %d keys destroyed again\n", len(ds), len(again))
	if j, err := shredjournal.Open(f.journal); err == nil {
		note := "restored backup " + m.ID
		if problem != "" {
			note += " with --allow-missing-journal: " + problem
		}
		_, _ = j.Append(ctx, shredjournal.Entry{Kind: shredjournal.KindRestore, Note: note})
	} else if problem == "" {
		return fmt.Errorf("the shred journal: %w", err)
	}

	// 6. Record the restore in the log, then rebuild every projection from it.
	esdbURL := f.esdbURL
	if embedded {
		es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: f.pgURL, Schema: f.schema, Listen: "127.0.0.1:0", Logger: env.log})
		if err != nil {
			return fmt.Errorf("embedded event store: %w", err)
		}
		defer es.Close(context.WithoutCancel(ctx))
		esdbURL = es.ConnectionString()
	} else if esdbURL == "" {
		return usageError{"the backup pairs with an external EventStoreDB: set ARKIV_ESDB_URL to the restored cluster"}
	}
	c, err := eventstore.Dial(esdbURL, env.log)
	if err != nil {
		return fmt.Errorf("EventStoreDB: %w", err)
	}
	redone := map[string]bool{}
	for _, sub := range again {
		redone[sub] = true
	}
	var destroyed []backup.Destroyed
	for _, d := range ds {
		if redone[d.Subject] {
			destroyed = append(destroyed, backup.Destroyed{Subject: d.Subject, DestroyedAt: d.DestroyedAt, Reason: d.Reason})
			delete(redone, d.Subject)
		}
	}
	rec := backup.Restored{BackupID: m.ID, BackupCreatedAt: m.CreatedAt, BackupPosition: m.LogPosition,
		RestoredAt: time.Now().UTC(), ArkivVersion: version, JournalEntries: len(ds), Redestroyed: destroyed,
		JournalOverride: problem != "", JournalProblem: problem}
	err = backup.AppendRestored(ctx, c, rec)
	c.Close()
	if err != nil {
		return fmt.Errorf("recording the restore in the log: %w", err)
	}
	if *weaviateURL != "" {
		// The index is rebuilt from the restored log: nothing written after the backup
		// (documents, spaces) may stay searchable.
		if err := dropSearchClass(ctx, *weaviateURL, search.DefaultClass); err != nil {
			return fmt.Errorf("Weaviate at ARKIV_WEAVIATE_URL: %w", err)
		}
	}
	rargs := []string{"--all", "--pg-url", f.pgURL, "--esdb-url", esdbURL, "--keystore-url", dsn, "--kek-file", f.kekFile,
		"--weaviate-url", *weaviateURL, "--weaviate-grpc", *weaviateGRPC}
	if err := projectionsRebuild(ctx, env, rargs); err != nil {
		return fmt.Errorf("rebuilding the projections after the restore: %w", err)
	}
	fmt.Fprintf(env.stdout, "restore of backup %s complete: start arkiv serve\n", m.ID)
	return nil
}

// dropSearchClass deletes the search index's collection (Weaviate's REST schema API); the
// rebuild creates it again.
func dropSearchClass(ctx context.Context, base, class string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(base, "/")+"/v1/schema/"+url.PathEscape(class), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("deleting the search collection answered %d", resp.StatusCode)
	}
	return nil
}

// readJournal reads the shred journal and checks that it reaches the head the backup
// recorded; problem is "" when it is whole.
func readJournal(path string, m *backup.Manifest) ([]shredjournal.Entry, string) {
	entries, _, err := shredjournal.Read(path)
	switch {
	case errors.Is(err, shredjournal.ErrMissing):
		return nil, "is missing"
	case errors.Is(err, shredjournal.ErrBroken):
		return nil, "its hash chain is broken (" + domain.PublicMessage(err) + ")"
	case err != nil:
		return nil, "cannot be read"
	}
	if m.Journal != nil {
		if ok, err := shredjournal.Contains(path, *m.Journal); err != nil || !ok {
			return entries, fmt.Sprintf("does not contain the entry %d the backup was taken at: it lost lines or was replaced", m.Journal.Seq)
		}
	}
	return entries, ""
}
