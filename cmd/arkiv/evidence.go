package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"

	arkivapp "github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/app/eventlog"
	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/ledger"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

const evidenceUsage = "usage: arkiv evidence export --org ID [--actor ADMIN_ID] --from T1 --to T2 --out FILE.zip | verify FILE.zip --key FILE"

// cmdEvidence is `arkiv evidence …`: DPIA evidence bundles, exported and verified.
func cmdEvidence(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{evidenceUsage}
	}
	switch args[0] {
	case "export":
		return evidenceExport(ctx, env, args[1:])
	case "verify":
		return evidenceVerify(ctx, env, args[1:])
	}
	return usageError{evidenceUsage}
}

// parseInstant reads an RFC 3339 time or a UTC date (YYYY-MM-DD, its midnight).
func parseInstant(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s %q: want an RFC 3339 time or a date YYYY-MM-DD", name, s)}
}

// logSource reads the log through the ledger's LogReader (the official client), page by
// page: the same entries `arkiv audit verify` verifies.
type logSource struct {
	log      ledgerproj.LogReader
	progress func(position uint64)
}

// Scan implements evidence.Source.
func (s logSource) Scan(ctx context.Context, fn func(ledger.Entry) error) error {
	var after *ledgerproj.Position
	for {
		pg, err := s.log.ReadPage(ctx, after, ledgerproj.PageSize)
		if err != nil {
			return err
		}
		for _, e := range pg.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if s.progress != nil && pg.Last != nil {
			s.progress(pg.Last.Commit)
		}
		if pg.End || pg.Last == nil {
			return nil
		}
		after = pg.Last
	}
}

func evidenceExport(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "evidence export")
	org := fs.String("org", "", "organisation id (required)")
	actor := fs.String("actor", "", "id of an Admin of the organisation to record the export for (default: the operator, recorded as the system actor)")
	fromS := fs.String("from", "", "start of the period, RFC 3339 or YYYY-MM-DD (inclusive)")
	toS := fs.String("to", "", "end of the period, RFC 3339 or YYYY-MM-DD (exclusive)")
	out := fs.String("out", "", "the bundle to write (.zip); it must not exist")
	withNames := fs.Bool("with-names", false, "include the names of users not erased (decrypted with the key store); never those of erased users")
	var wc writeConfig
	fs.StringVar(&wc.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&wc.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres (ARKIV_PG_URL), for the key store the export's record is sealed with")
	fs.StringVar(&wc.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL)")
	fs.StringVar(&wc.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	signingKey := fs.String("signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key: signs the manifest (ARKIV_SIGNING_KEY_FILE)")
	var keys stringsFlag
	fs.Var(&keys, "key", "older trusted public key file, for checkpoints signed before a rotation (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" || *fromS == "" || *toS == "" || *out == "" {
		return usageError{evidenceUsage}
	}
	if wc.ESDBURL == "" || wc.KEKFile == "" || *signingKey == "" {
		return usageError{"ARKIV_ESDB_URL, ARKIV_KEK_FILE and ARKIV_SIGNING_KEY_FILE are required"}
	}
	from, err := parseInstant("from", *fromS)
	if err != nil {
		return err
	}
	to, err := parseInstant("to", *toS)
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return usageError{"--from must be before --to"}
	}
	if _, err := os.Stat(*out); err == nil {
		return usageError{fmt.Sprintf("%s exists; evidence export never overwrites a bundle", *out)}
	}
	k, err := ledger.LoadKeyFile(*signingKey)
	if err != nil {
		return configError{"ARKIV_SIGNING_KEY_FILE", err}
	}
	trusted, err := auditKeys(keys, *signingKey)
	if err != nil {
		return err
	}
	client, err := eventstore.Dial(wc.ESDBURL, env.log)
	if err != nil {
		return err
	}
	defer client.Close()
	src := logSource{log: ledgerproj.NewLogReader(eventlog.New(client, esdbwatermill.Options{Logger: env.log}))}
	if isTerminal(env.stderr) {
		head, err := src.log.Head(ctx)
		if err != nil {
			return fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
		}
		if head != nil {
			bar := progressbar.NewOptions64(int64(head.Commit), progressbar.OptionSetWriter(env.stderr),
				progressbar.OptionSetDescription("export"), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			defer bar.Finish()
			src.progress = func(pos uint64) { _ = bar.Set64(min(int64(pos), bar.GetMax64())) }
		}
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(ledgerproj.VerifyGCPercent))
	}

	w, err := openWriteSide(ctx, env, wc)
	if err != nil {
		return err
	}
	defer w.Close()
	app, err := usecase.NewApp(w.Deps, env.log)
	if err != nil {
		return err
	}
	req := evidence.Request{Organization: *org, From: from, To: to, Version: version,
		Keys: note.VerifierList(trusted...), Signer: k.Signer, SignedAt: time.Now().UTC()}
	if *withNames {
		req.Names = w.Deps.Codec
	}
	servesTLS := os.Getenv("ARKIV_TLS_CERT") != "" && os.Getenv("ARKIV_TLS_KEY") != ""
	if req.Deployment, err = arkivapp.EvidenceDeployment(ctx, w.Keyring, w.KEK, k.VerifierKey, servesTLS); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".evidence-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	res, err := evidence.Export(ctx, src, req, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The export is an audited event: recorded (and authorised) before the bundle is kept.
	rec := usecase.ExportEvidence{Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: operator(*actor)}, OrganizationID: *org, From: from, To: to,
		ManifestSHA256: res.ManifestSHA256, WithNames: *withNames}
	if c := res.Manifest.Checkpoint; c != nil {
		rec.TreeSize, rec.Root = c.Size, c.Root
	}
	recorded, err := app.ExportEvidence.Handle(ctx, rec)
	if err != nil {
		return fmt.Errorf("recording the export: %w", err)
	}
	if recorded.ID != *org {
		return fmt.Errorf("the actor is not an Admin of organisation %s (%s)", *org, domain.KindForbidden)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s: %d events of organisation %s from %s to %s, %d files, manifest SHA-256 %s\n",
		*out, res.Events, *org, from.Format(time.RFC3339), to.Format(time.RFC3339), len(res.Manifest.Files), res.ManifestSHA256)
	if c := res.Manifest.Checkpoint; c != nil {
		fmt.Fprintf(env.stdout, "covering checkpoint: size %d, root %s (covers the period's end: %t)\n", c.Size, c.Root, c.Covers)
	}
	if !res.Verification.OK {
		fmt.Fprintf(env.stdout, "WARNING: the log did not verify: %v\n", res.Verification.Failure)
	}
	return nil
}

func evidenceVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "evidence verify")
	var keys stringsFlag
	fs.Var(&keys, "key", "public key file (the output of `arkiv audit public-key`; repeatable)")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	if file == "" || len(keys) == 0 {
		return usageError{"usage: arkiv evidence verify FILE.zip --key FILE"}
	}
	vs, err := ledger.LoadVerifierKeys(keys...)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	m, err := evidence.Verify(f, st.Size(), note.VerifierList(vs...))
	var ve *evidence.VerifyError
	if errors.As(err, &ve) {
		fmt.Fprintf(env.stdout, "EVIDENCE DOES NOT VERIFY: file %s, %s check: %s\n", ve.File, ve.Check, ve.Detail)
		return exitCode(1)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "evidence verified: organisation %s, %s to %s, %d files with their SHA-256, manifest signed by a trusted key",
		m.Organization, m.From.Format(time.RFC3339), m.To.Format(time.RFC3339), len(m.Files))
	if c := m.Checkpoint; c != nil {
		fmt.Fprintf(env.stdout, ", checkpoint of size %d signed by a trusted key", c.Size)
	}
	fmt.Fprintln(env.stdout)
	return nil
}
