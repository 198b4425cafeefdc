package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/eventstore"
)

const erasureUsage = "usage: arkiv erasure certificate ID [--key FILE] | verify FILE [--key FILE]"

// cmdErasure is `arkiv erasure …`: erasure certificates, read from the log and verified.
func cmdErasure(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{erasureUsage}
	}
	switch args[0] {
	case "certificate":
		return erasureCertificate(ctx, env, args[1:])
	case "verify":
		return erasureVerify(env, args[1:])
	}
	return usageError{erasureUsage}
}

// certificateOutput is what `arkiv erasure certificate` prints.
type certificateOutput struct {
	ErasureID   string               `json:"erasureId"`
	EventID     string               `json:"eventId"`
	Signed      bool                 `json:"signed"`
	Verified    *bool                `json:"verified,omitempty"`
	Certificate evidence.Certificate `json:"certificate"`
	// Note is the certificate verbatim, as signed (what `arkiv erasure verify` reads).
	Note string `json:"note"`
}

// erasureCertificate prints the certificate of a completed erasure as JSON, read from the
// event store through the official client; with a key (--key, ARKIV_SIGNING_KEY_FILE or
// ARKIV_LEDGER_KEYS) its signature is verified first.
func erasureCertificate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "erasure certificate")
	esdbURL := fs.String("esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	signingKey := fs.String("signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key, whose public key verifies (ARKIV_SIGNING_KEY_FILE)")
	var keys stringsFlag
	fs.Var(&keys, "key", "trusted ledger public key file (repeatable)")
	id, err := positional(fs, args, "erasure certificate ID")
	if err != nil {
		return err
	}
	if id == "" || domain.ValidateID("erasure id", id) != nil {
		return usageError{erasureUsage}
	}
	if *esdbURL == "" {
		return usageError{"ARKIV_ESDB_URL is required"}
	}
	client, err := eventstore.Dial(*esdbURL, env.log)
	if err != nil {
		return err
	}
	defer client.Close()
	recs, _, err := eventstore.New(client).Load(ctx, domain.StreamPrefixErasure+id)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Type != (domain.ErasureCertified{}).EventName() {
			continue
		}
		var ev domain.ErasureCertified
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			return err
		}
		out := certificateOutput{ErasureID: id, EventID: r.EventID, Signed: ev.Signed, Note: ev.Certificate}
		if out.Certificate, err = evidence.ParseCertificate(ev.Certificate); err != nil {
			return fmt.Errorf("the recorded certificate does not parse: %w", err)
		}
		if len(keys) > 0 || *signingKey != "" || os.Getenv("ARKIV_LEDGER_KEYS") != "" {
			trusted, err := auditKeys(keys, *signingKey)
			if err != nil {
				return err
			}
			if _, err := evidence.VerifyCertificate([]byte(ev.Certificate), note.VerifierList(trusted...)); err != nil {
				return fmt.Errorf("the certificate does not verify: %w", err)
			}
			ok := true
			out.Verified = &ok
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(recs) == 0 {
		return fmt.Errorf("no erasure %s in the log (%s)", id, domain.KindNotFound)
	}
	return fmt.Errorf("erasure %s has no certificate yet: it is pending, restored, or not yet certified (%s)", id, domain.KindNotFound)
}

// erasureVerify checks a certificate file offline: the signed note as recorded (the note
// field of `arkiv erasure certificate`, or the certificate of erasures.json in an evidence
// bundle), against the trusted ledger keys.
func erasureVerify(env *cliEnv, args []string) error {
	fs := newFlags(env, "erasure verify")
	signingKey := fs.String("signing-key-file", envOr("ARKIV_SIGNING_KEY_FILE", ""), "ledger signing key, whose public key verifies (ARKIV_SIGNING_KEY_FILE)")
	var keys stringsFlag
	fs.Var(&keys, "key", "trusted ledger public key file (repeatable)")
	file, err := positional(fs, args, "erasure verify FILE")
	if err != nil {
		return err
	}
	if file == "" {
		return usageError{erasureUsage}
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	trusted, err := auditKeys(keys, *signingKey)
	if err != nil {
		return err
	}
	c, err := evidence.VerifyCertificate(text, note.VerifierList(trusted...))
	if err != nil {
		return fmt.Errorf("%s does not verify: %w", file, err)
	}
	status := "passed"
	if !c.PostCheck.Passed {
		status = "FAILED"
	}
	fmt.Fprintf(env.stdout, "ok: erasure %s of %s %s certified %s, %d keys destroyed, post-check %s\n", c.ErasureID,
		strings.ToLower(c.SubjectType), c.SubjectID, c.CertifiedAt.Format("2006-01-02T15:04:05Z"), len(c.KeysDestroyed), status)
	return nil
}
