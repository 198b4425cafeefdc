package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/ledger"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

const auditUsage = "usage: arkiv audit generate-key --out FILE | public-key | verify [--trusted-checkpoint FILE] [--json] | " +
	"prove --event ID | verify-proof FILE --key FILE | checkpoints --out DIR | export --org ID --reason TEXT --format jsonl|csv|ocsf | as-of --org ID --actor ADMIN --reason TEXT --at T access|settings|space ID|user ID"

// cmdAudit is `arkiv audit …`: the verifiable log's keys, verification, proofs and export.
func cmdAudit(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{auditUsage}
	}
	sub := map[string]func(context.Context, *cliEnv, []string) error{
		"generate-key": auditGenerateKey, "public-key": auditPublicKey, "verify": auditVerify,
		"prove": auditProve, "verify-proof": auditVerifyProof, "checkpoints": auditCheckpoints,
		"export": auditExport, "as-of": auditAsOf,
	}[args[0]]
	if sub == nil {
		return usageError{auditUsage}
	}
	return sub(ctx, env, args[1:])
}

// defaultOrigin names the log in new keys unless --origin says otherwise.
func defaultOrigin() string {
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, "+ ") {
		host = "arkiv.local"
	}
	return host + "/arkiv-ledger"
}

func auditGenerateKey(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit generate-key")
	out := fs.String("out", "", "file to create (mode 0600); it must not exist")
	origin := fs.String("origin", defaultOrigin(), "the log's origin: the key's name, written into every checkpoint")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	if err := createSigningKey(*out, *origin); err != nil {
		return err
	}
	k, err := ledger.LoadKeyFile(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote signing key %s (mode 0600)\npublic key: %s\n", *out, k.VerifierKey)
	return nil
}

// createSigningKey writes a new signing key file for origin.
func createSigningKey(path, origin string) error {
	skey, vkey, err := ledger.GenerateKey(origin)
	if err != nil {
		return usageError{fmt.Sprintf("origin %q: %v", origin, err)}
	}
	return ledger.WriteKeyFile(path, skey, vkey)
}

func auditPublicKey(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit public-key")
	keyFile := fs.String("signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key (ARKIV_SIGNING_KEY_FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return usageError{"ARKIV_SIGNING_KEY_FILE (or --signing-key-file) is not set"}
	}
	k, err := ledger.LoadKeyFile(*keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, k.VerifierKey)
	return nil
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

// String and Set implement flag.Value.
func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// auditKeys are the trusted verifier keys: --key files, ARKIV_LEDGER_KEYS (older public
// keys after a rotation, comma-separated files) and the public half of the signing key.
func auditKeys(keyFiles []string, signingKeyFile string) ([]note.Verifier, error) {
	files := append([]string(nil), keyFiles...)
	for _, f := range strings.Split(os.Getenv("ARKIV_LEDGER_KEYS"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	keys, err := ledger.LoadVerifierKeys(files...)
	if err != nil {
		return nil, err
	}
	if signingKeyFile != "" {
		k, err := ledger.LoadKeyFile(signingKeyFile)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.Verifier())
	}
	if len(keys) == 0 {
		return nil, usageError{"no trusted key: give --key FILE (the output of `arkiv audit public-key`) or set ARKIV_SIGNING_KEY_FILE"}
	}
	return keys, nil
}

// auditVerifyConfig is what `arkiv audit verify` reads, the same settings as serve.
type auditVerifyConfig struct {
	ESDBURL, PGURL, SigningKeyFile string
	Keys                           stringsFlag
	Trusted                        stringsFlag
	JSON, NoRecords                bool
}

func auditVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit verify")
	var c auditVerifyConfig
	fs.StringVar(&c.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&c.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres of the ledger projection, to name tampered events (ARKIV_PG_URL; optional)")
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key; its public half is trusted (ARKIV_SIGNING_KEY_FILE)")
	fs.Var(&c.Keys, "key", "trusted public key file (repeatable; older keys after a rotation)")
	fs.Var(&c.Trusted, "trusted-checkpoint", "signed checkpoint saved earlier that the log must be consistent with (repeatable)")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&c.NoRecords, "no-ledger-records", false, "do not compare leaves with the ledger projection's records")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := runAuditVerify(ctx, env, c)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(env.stdout, rep)
	}
	if !rep.OK {
		return exitCode(1)
	}
	return nil
}

// runAuditVerify verifies the log of c.ESDBURL from its start, through the official client.
func runAuditVerify(ctx context.Context, env *cliEnv, c auditVerifyConfig) (ledger.Report, error) {
	if c.ESDBURL == "" {
		return ledger.Report{}, usageError{"ARKIV_ESDB_URL (or --esdb-url) is not set"}
	}
	keys, err := auditKeys(c.Keys, c.SigningKeyFile)
	if err != nil {
		return ledger.Report{}, err
	}
	opts := ledger.Options{Keys: note.VerifierList(keys...)}
	for _, f := range c.Trusted {
		b, err := os.ReadFile(f)
		if err != nil {
			return ledger.Report{}, err
		}
		cp, _, err := ledger.OpenCheckpoint(b, opts.Keys)
		if err != nil {
			return ledger.Report{Failure: &ledger.Failure{Check: ledger.CheckTrustedCheckpoint,
				Detail: fmt.Sprintf("%s is not a checkpoint signed by a trusted key: %v", f, err)}}, nil
		}
		opts.Trusted = append(opts.Trusted, cp)
	}
	if c.PGURL != "" && !c.NoRecords {
		pool, err := pgxpool.New(ctx, c.PGURL)
		if err != nil {
			return ledger.Report{}, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
		}
		defer pool.Close()
		opts.Reference = ledgerproj.NewReader(pool, "").References()
	}
	client, err := eventstore.Dial(c.ESDBURL, env.log)
	if err != nil {
		return ledger.Report{}, err
	}
	defer client.Close()
	log := ledgerproj.NewLogReader(eventlog.New(client, esdbwatermill.Options{Logger: env.log}))
	var progress func(uint64)
	if isTerminal(env.stderr) {
		head, err := log.Head(ctx)
		if err != nil {
			return ledger.Report{}, fmt.Errorf("EventStoreDB at ARKIV_ESDB_URL: %w", err)
		}
		if head != nil {
			bar := progressbar.NewOptions64(int64(head.Commit), progressbar.OptionSetWriter(env.stderr),
				progressbar.OptionSetDescription("verify"), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			defer bar.Finish()
			progress = func(pos uint64) { _ = bar.Set64(min(int64(pos), bar.GetMax64())) }
		}
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(ledgerproj.VerifyGCPercent))
	}
	rep, err := ledgerproj.VerifyLog(ctx, log, opts, progress)
	if err != nil {
		return rep, fmt.Errorf("verification could not finish: %w", err)
	}
	return rep, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printReport(w io.Writer, r ledger.Report) {
	if f := r.Failure; f != nil {
		fmt.Fprintf(w, "VERIFICATION FAILED: %s check\n", f.Check)
		if f.EventID != "" {
			fmt.Fprintf(w, "  stream:        %s\n  revision:      %d\n  log position:  %d\n  event id:      %s\n", f.Stream, f.Revision, f.Position, f.EventID)
		}
		fmt.Fprintf(w, "  leaf index:    %d\n  what:          %s\n", f.LeafIndex, f.Detail)
		fmt.Fprintf(w, "verified before the failure: %d events in %d streams, %d checkpoints\n", r.Leaves, r.Streams, r.Checkpoints)
		return
	}
	fmt.Fprintf(w, "ledger verified: %d events in %d streams, every stream's hash chain intact\n", r.Leaves, r.Streams)
	if r.Latest != nil {
		fmt.Fprintf(w, "%d signed checkpoints hold; latest: size %d, root %s, origin %s, key %s (event %s)\n",
			r.Checkpoints, r.Latest.Size, b64(r.Latest.Root), r.Latest.Origin, r.Latest.KeyHash, r.Latest.EventID)
	} else {
		fmt.Fprintln(w, "no signed checkpoint in the log yet")
	}
	fmt.Fprintf(w, "unanchored tail: %d events after the latest checkpoint\n", r.UnanchoredTail)
	if r.TrustedChecked > 0 {
		fmt.Fprintf(w, "consistent with %d trusted checkpoint(s)\n", r.TrustedChecked)
	}
}

func auditProve(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit prove")
	pgURL := fs.String("pg-url", envOr("ARKIV_PG_URL", ""), "Postgres of the ledger projection (ARKIV_PG_URL)")
	event := fs.String("event", "", "id of the event to prove")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *event == "" || *pgURL == "" {
		return usageError{"--event ID and ARKIV_PG_URL are required"}
	}
	pool, err := pgxpool.New(ctx, *pgURL)
	if err != nil {
		return fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	defer pool.Close()
	p, err := ledgerproj.NewReader(pool, "").Proof(ctx, *event)
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(p.Marshal())
	return err
}

func auditVerifyProof(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit verify-proof")
	var keys stringsFlag
	fs.Var(&keys, "key", "public key file (the output of `arkiv audit public-key`; repeatable)")
	// The proof file comes first (verify-proof FILE --key KEY): take it off before the flags.
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
		return usageError{"usage: arkiv audit verify-proof FILE --key FILE"}
	}
	vs, err := ledger.LoadVerifierKeys(keys...)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	p, err := ledger.ParseProof(b)
	if err == nil {
		var cp ledger.Checkpoint
		if cp, err = ledger.VerifyProof(p, note.VerifierList(vs...)); err == nil {
			l := p.Leaf
			fmt.Fprintf(env.stdout, "proof verified: event %s (stream %s, revision %d, type %s, recorded %s) is leaf %d of the log %s, size %d, root %s\n"+
				"  data SHA-256:     %x\n  metadata SHA-256: %x\n",
				l.EventID, l.Stream, l.Revision, l.Type, l.Created().Format(time.RFC3339Nano), p.Index, cp.Origin, cp.Size, b64(cp.Root), l.DataHash, l.MetadataHash)
			return nil
		}
	}
	fmt.Fprintf(env.stdout, "PROOF DOES NOT VERIFY: %v\n", err)
	return exitCode(1)
}

func auditCheckpoints(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit checkpoints")
	esdbURL := fs.String("esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	out := fs.String("out", "", "directory to write the checkpoints to, one signed note per file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || *esdbURL == "" {
		return usageError{"--out DIR and ARKIV_ESDB_URL are required"}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	store, err := eventstore.Open(*esdbURL)
	if err != nil {
		return err
	}
	defer store.Close()
	recs, _, err := store.Load(ctx, ledger.DefaultStream)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range recs {
		if r.Type != ledger.CheckpointType {
			continue
		}
		var d ledger.CheckpointData
		if err := json.Unmarshal(r.Data, &d); err != nil || d.Note == "" {
			return fmt.Errorf("checkpoint event %s (revision %d) holds no note", r.EventID, r.Revision)
		}
		body, _, _ := strings.Cut(d.Note, "\n\n")
		cp, err := ledger.ParseCheckpoint([]byte(body + "\n"))
		if err != nil {
			return fmt.Errorf("checkpoint event %s (revision %d): %w", r.EventID, r.Revision, err)
		}
		name := filepath.Join(*out, fmt.Sprintf("checkpoint-%012d.txt", cp.Size))
		if err := os.WriteFile(name, []byte(d.Note), 0o644); err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(env.stdout, "wrote %d checkpoints to %s\n", n, *out)
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
