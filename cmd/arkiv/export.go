package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/app/eventlog"
	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/portability"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

const exportUsage = "usage: arkiv export subject --org ID --user ID [--request ID] [--actor ID] --out FILE.zip | " +
	"organization --org ID [--actor ADMIN_ID] --out DIR|FILE.zip"

// cmdExport is `arkiv export …`: a person's data (subject access, GDPR Art. 15 and 20) and
// the whole organisation, decrypted, read from the log through the official client.
func cmdExport(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{exportUsage}
	}
	switch args[0] {
	case "subject":
		return exportSubject(ctx, env, args[1:])
	case "organization", "organisation":
		return exportOrganization(ctx, env, args[1:])
	}
	return usageError{exportUsage}
}

// exportSide is what both exports open: the event store (read through the official client)
// and the write side, whose keyring codec decrypts and whose commands record the export.
type exportSide struct {
	client *esdb.Client
	w      *writeSide
	app    *usecase.App
	opener portability.Opener
}

func (s *exportSide) Close() {
	s.w.Close()
	s.client.Close()
}

func writeFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}, wc *writeConfig) {
	fs.StringVar(&wc.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&wc.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres (ARKIV_PG_URL)")
	fs.StringVar(&wc.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL)")
	fs.StringVar(&wc.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
}

func openExportSide(ctx context.Context, env *cliEnv, wc writeConfig) (*exportSide, error) {
	if wc.ESDBURL == "" || wc.KEKFile == "" {
		return nil, usageError{"ARKIV_ESDB_URL and ARKIV_KEK_FILE are required"}
	}
	client, err := eventstore.Dial(wc.ESDBURL, env.log)
	if err != nil {
		return nil, err
	}
	w, err := openWriteSide(ctx, env, wc)
	if err != nil {
		client.Close()
		return nil, err
	}
	a, err := usecase.NewApp(w.Deps, env.log)
	if err != nil {
		w.Close()
		client.Close()
		return nil, err
	}
	op, ok := w.Deps.Codec.(portability.Opener)
	if !ok {
		w.Close()
		client.Close()
		return nil, fmt.Errorf("the codec cannot open payloads")
	}
	return &exportSide{client: client, w: w, app: a, opener: op}, nil
}

// source returns the log with a progress bar on a terminal.
func (s *exportSide) source(ctx context.Context, env *cliEnv, label string) (logSource, func(), error) {
	src := logSource{log: ledgerproj.NewLogReader(eventlog.New(s.client, esdbwatermill.Options{Logger: env.log}))}
	done := func() {}
	if isTerminal(env.stderr) {
		head, err := src.log.Head(ctx)
		if err != nil {
			return src, done, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
		}
		if head != nil {
			bar := progressbar.NewOptions64(int64(head.Commit), progressbar.OptionSetWriter(env.stderr),
				progressbar.OptionSetDescription(label), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionShowBytes(false), progressbar.OptionClearOnFinish())
			done = func() { _ = bar.Finish() }
			src.progress = func(pos uint64) { _ = bar.Set64(min(int64(pos), bar.GetMax64())) }
		}
	}
	return src, done, nil
}

func exportSubject(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "export subject")
	org := fs.String("org", "", "organisation id (required)")
	user := fs.String("user", "", "the person's user id (required)")
	request := fs.String("request", "", "the subject request case the export answers (default: none)")
	actor := fs.String("actor", "", "id of an Admin of the organisation to record the export for (default: the operator, recorded as the system actor)")
	out := fs.String("out", "", "the archive to write (.zip); it must not exist")
	var wc writeConfig
	writeFlags(fs, &wc)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" || *user == "" || *out == "" {
		return usageError{exportUsage}
	}
	if _, err := os.Stat(*out); err == nil {
		return usageError{fmt.Sprintf("%s exists; an export never overwrites", *out)}
	}
	s, err := openExportSide(ctx, env, wc)
	if err != nil {
		return err
	}
	defer s.Close()
	src, done, err := s.source(ctx, env, "subject export")
	if err != nil {
		return err
	}
	res, err := app.ExportSubject(ctx, src, s.opener, s.app, usecase.Meta{CommandID: uuid.NewString(), ActorID: operator(*actor)},
		portability.SubjectRequest{Organization: *org, UserID: *user, RequestID: *request, Version: version, ExportedAt: time.Now().UTC()})
	done()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".subject-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(res.Archive); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s: %d records about user %s of organisation %s, archive SHA-256 %s\n",
		*out, res.Records, *user, *org, res.SHA256)
	return nil
}

func exportOrganization(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "export organization")
	org := fs.String("org", "", "organisation id (required)")
	actor := fs.String("actor", "", "id of an Admin of the organisation to record the export for (default: the operator, recorded as the system actor)")
	out := fs.String("out", "", "a directory to create, or a FILE.zip; it must not exist")
	var wc writeConfig
	writeFlags(fs, &wc)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" || *out == "" {
		return usageError{exportUsage}
	}
	if _, err := os.Stat(*out); err == nil {
		return usageError{fmt.Sprintf("%s exists; an export never overwrites", *out)}
	}
	s, err := openExportSide(ctx, env, wc)
	if err != nil {
		return err
	}
	defer s.Close()
	src, done, err := s.source(ctx, env, "organisation export")
	if err != nil {
		return err
	}
	m, sum, err := portability.WriteOrganization(ctx, src, s.opener, portability.OrganizationRequest{Organization: *org,
		Version: version, ExportedAt: time.Now().UTC()}, *out)
	done()
	if err != nil {
		return err
	}
	// The export is an audited event; an export the command refuses is removed.
	rec := usecase.ExportOrganization{Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: operator(*actor)}, OrganizationID: *org,
		Events: m.Events, ManifestSHA256: sum}
	if recorded, err := s.app.ExportOrganization.Handle(ctx, rec); err != nil || recorded.ID != *org {
		_ = os.RemoveAll(*out)
		if err == nil {
			err = fmt.Errorf("the actor is not an Admin of organisation %s", *org)
		}
		return fmt.Errorf("recording the export: %w", err)
	}
	fmt.Fprintf(env.stdout, "wrote %s: %d events of organisation %s in %d files, manifest SHA-256 %s\n",
		*out, m.Events, *org, len(m.Files), sum)
	return nil
}
