package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
	"github.com/arkiv/arkiv/readmodels"
)

// auditExport runs `arkiv audit export --org ID --reason TEXT [--from T1] [--to T2]
// --format jsonl|csv|ocsf [--out FILE] [--with-names] [--after CURSOR]`: it records the
// export in the organisation's access log (as the system actor, with the reason), then
// streams the organisation's audit entries, oldest first, to standard output or FILE and
// ends with the completeness footer. Without --with-names the export is pseudonymous.
func auditExport(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit export")
	org := fs.String("org", "", "organisation id (required)")
	reason := fs.String("reason", "", "why the audit log is exported, 10 to 1000 characters (required, recorded)")
	from := fs.String("from", "", "first instant, RFC 3339 (inclusive; default: the beginning)")
	to := fs.String("to", "", "last instant, RFC 3339 (exclusive; default: now)")
	format := fs.String("format", "", "jsonl, csv or ocsf (required)")
	out := fs.String("out", "", "output file (default: standard output); never overwritten")
	withNames := fs.Bool("with-names", false, "add the names of actors and subjects who are not erased")
	after := fs.String("after", "", "resume an export after this cursor (a footer's nextCursor)")
	var cfg writeConfig
	fs.StringVar(&cfg.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&cfg.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres for read models (ARKIV_PG_URL)")
	fs.StringVar(&cfg.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL; default: <ARKIV_PG_URL database>_keys)")
	fs.StringVar(&cfg.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := readmodels.ParseExportFormat(*format)
	if err != nil {
		return usageError{"--format must be jsonl, csv or ocsf"}
	}
	switch {
	case domain.ValidateID("organisation id", *org) != nil:
		return usageError{"--org must be an organisation id (a lower-case UUID)"}
	case domain.ValidateJustification(*reason) != nil:
		return usageError{"--reason must be 10 to 1000 characters"}
	case cfg.ESDBURL == "" || cfg.PGURL == "" || cfg.KEKFile == "":
		return usageError{"ARKIV_ESDB_URL, ARKIV_PG_URL and ARKIV_KEK_FILE must be set"}
	}
	var filter readmodels.AuditFilter
	for _, t := range []struct {
		flag, v string
		into    *time.Time
	}{{"--from", *from, &filter.From}, {"--to", *to, &filter.To}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return usageError{t.flag + " must be an RFC 3339 time"}
		}
		*t.into = v
	}
	if filter.To.IsZero() {
		filter.To = time.Now().UTC()
	}
	if !filter.From.Before(filter.To) {
		return usageError{"--from must be before --to"}
	}
	dst := env.stdout
	if *out != "" {
		file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return usageError{err.Error()}
		}
		defer file.Close()
		dst = file
	}
	w, err := openWriteSide(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	app, err := usecase.NewApp(w.Deps, env.log)
	if err != nil {
		return err
	}
	if _, err := app.ExportAuditLog.Handle(ctx, usecase.ExportAuditLog{
		Meta:           usecase.Meta{CommandID: uuid.NewString(), ActorID: domain.SystemActor},
		OrganizationID: *org, Justification: *reason, Format: strings.ToUpper(f), From: filter.From, To: filter.To,
	}); err != nil {
		return fmt.Errorf("record the export: %s (%s)", domain.PublicMessage(err), domain.KindOf(err))
	}
	pool, err := pgxpool.New(ctx, cfg.PGURL)
	if err != nil {
		return fmt.Errorf("read models: %w", err)
	}
	defer pool.Close()
	codec, ok := w.Deps.Codec.(*keyring.EventCodec)
	if !ok {
		return errors.New("the event codec cannot open sealed fields")
	}
	foot, err := readmodels.New(pool, codec).ExportAudit(ctx, dst, *org, readmodels.AuditExportOptions{
		Filter: filter, Format: f, After: *after, WithNames: *withNames,
		// The ledger's tables sit beside the read models: the footer names the signed
		// checkpoint that covers the export.
		Checkpoints: ledgerproj.NewReader(pool, "")})
	if err != nil {
		return fmt.Errorf("%s (%s)", domain.PublicMessage(err), domain.KindOf(err))
	}
	if file, ok := dst.(*os.File); ok && *out != "" {
		if err := file.Sync(); err != nil {
			return err
		}
		fmt.Fprintf(env.stderr, "arkiv audit export: %d rows written to %s\n", foot.Rows, *out)
	}
	return nil
}
