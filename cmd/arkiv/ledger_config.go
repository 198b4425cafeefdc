package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/app"
	"github.com/arkiv/arkiv/ledger"
)

// ledgerConfig parses the ledger settings into the app's configuration: the signing key
// (optional here; serve requires it before it gets this far), the older public keys and
// the checkpoint cadence.
func (c platformConfig) ledgerConfig() (app.Config, error) {
	var out app.Config
	if c.SigningKeyFile != "" {
		k, err := ledger.LoadKeyFile(c.SigningKeyFile)
		if err != nil {
			return out, fmt.Errorf("ARKIV_SIGNING_KEY_FILE: %w", err)
		}
		out.SigningKey = k
	}
	var files []string
	for _, f := range strings.Split(c.LedgerKeys, ",") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	keys, err := ledger.LoadVerifierKeys(files...)
	if err != nil {
		return out, fmt.Errorf("ARKIV_LEDGER_KEYS: %w", err)
	}
	out.LedgerKeys = keys
	if c.CheckpointEvery != "" {
		n, err := strconv.ParseUint(c.CheckpointEvery, 10, 64)
		if err != nil || n == 0 {
			return out, fmt.Errorf("ARKIV_CHECKPOINT_EVERY must be a positive number of events, not %q", c.CheckpointEvery)
		}
		out.CheckpointEvery = n
	}
	if c.CheckpointInterval != "" {
		d, err := time.ParseDuration(c.CheckpointInterval)
		if err != nil || d <= 0 {
			return out, fmt.Errorf("ARKIV_CHECKPOINT_INTERVAL must be a positive duration such as 10s, not %q", c.CheckpointInterval)
		}
		out.CheckpointInterval = d
	}
	return out, nil
}

// requireSigningKey is serve's check: without a usable ARKIV_SIGNING_KEY_FILE it prints one
// line and exits with status 2.
func requireSigningKey(env *cliEnv, path string) error {
	if path == "" {
		fmt.Fprintln(env.stderr, "arkiv serve: ARKIV_SIGNING_KEY_FILE is not set; create a ledger signing key with `arkiv audit generate-key --out FILE` and point it there")
		return exitCode(2)
	}
	if _, err := ledger.LoadKeyFile(path); err != nil {
		fmt.Fprintf(env.stderr, "arkiv serve: ARKIV_SIGNING_KEY_FILE: %v\n", err)
		return exitCode(2)
	}
	return nil
}
