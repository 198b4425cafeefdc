package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// cmdKeys runs the keyring's operator tools:
//
//	arkiv keys rotate-kek   add a KEK version and re-wrap every live DEK (resumable)
//	arkiv keys prune-kek    delete the KEK versions no DEK is wrapped under any more
//	arkiv keys status       KEK versions and how many DEKs still need re-wrapping
//	arkiv keys generate-kek --out FILE   write a new KEK file (mode 0600)
func cmdKeys(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError{"keys needs a subcommand: generate-kek, rotate-kek, prune-kek or status"}
	}
	sub, args := args[0], args[1:]
	if sub == "generate-kek" {
		return generateKEK(env, args)
	}
	fs := newFlags(env, "keys "+sub)
	keystoreURL := fs.String("keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL; default: <ARKIV_PG_URL database>_keys)")
	pgURL := fs.String("pg-url", envOr("ARKIV_PG_URL", ""), "Postgres URL the key store's default is derived from (ARKIV_PG_URL)")
	kekFile := fs.String("kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *kekFile == "" {
		return usageError{"-kek-file or ARKIV_KEK_FILE is required"}
	}
	switch sub {
	case "rotate-kek", "prune-kek", "status":
	default:
		return usageError{fmt.Sprintf("unknown keys subcommand %q", sub)}
	}
	kek, err := keyring.LoadKEKFile(*kekFile)
	if err != nil {
		return configError{"ARKIV_KEK_FILE", err}
	}
	dsn, err := keyring.KeystoreURL(*keystoreURL, *pgURL)
	if err != nil {
		return err
	}
	if err := keyring.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{}, keyring.WithoutListener(), keyring.WithLogger(env.log))
	if err != nil {
		return err
	}
	defer kr.Close()
	switch sub {
	case "rotate-kek":
		return rotateKEK(ctx, env, kr, kek)
	case "prune-kek":
		return pruneKEK(ctx, env, kr, kek)
	}
	return keysStatus(ctx, env, kr, kek)
}

// rotateKEK adds a KEK version unless an earlier rotation was interrupted (DEKs are still
// wrapped under an older version), in which case it resumes that rotation.
func rotateKEK(ctx context.Context, env *cliEnv, kr *keyring.Keyring, kek *keyring.FileKEK) error {
	pending, err := kr.PendingRotation(ctx)
	if err != nil {
		return err
	}
	cur, err := kek.CurrentVersion(ctx)
	if err != nil {
		return err
	}
	if pending > 0 {
		fmt.Fprintf(env.stdout, "resuming the rotation to KEK version %d: %d keys left\n", cur, pending)
	} else {
		if cur, err = kek.AddVersion(ctx); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "added KEK version %d to %s; re-wrapping every live key\n", cur, kek.Path())
	}
	var bar *progressbar.ProgressBar
	err = kr.RotateKEK(ctx, func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(env.stderr),
				progressbar.OptionSetDescription("re-wrapping keys"), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish())
		}
		bar.ChangeMax(total)
		_ = bar.Set(done)
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "every live key is wrapped under KEK version %d.\n", cur)
	fmt.Fprintf(env.stdout, "when every Arkiv process has picked up the new KEK file, delete the old versions with `arkiv keys prune-kek`.\n")
	return nil
}

// pruneKEK deletes the old KEK versions from the file once no DEK is wrapped under them.
func pruneKEK(ctx context.Context, env *cliEnv, kr *keyring.Keyring, kek *keyring.FileKEK) error {
	pending, err := kr.PendingRotation(ctx)
	if err != nil {
		return err
	}
	if pending > 0 {
		return fmt.Errorf("%d keys are still wrapped under an older KEK version: run `arkiv keys rotate-kek` first", pending)
	}
	cur, err := kek.CurrentVersion(ctx)
	if err != nil {
		return err
	}
	removed, err := kek.RemoveVersionsExcept(ctx, cur)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintf(env.stdout, "the KEK file holds only version %d: nothing to prune\n", cur)
		return nil
	}
	fmt.Fprintf(env.stdout, "deleted KEK versions %v from %s; version %d remains\n", removed, kek.Path(), cur)
	return nil
}

func keysStatus(ctx context.Context, env *cliEnv, kr *keyring.Keyring, kek *keyring.FileKEK) error {
	pending, err := kr.PendingRotation(ctx)
	if err != nil {
		return err
	}
	cur, err := kek.CurrentVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "KEK file:        %s\nKEK versions:    %v (current %d)\nkeys to re-wrap: %d\n",
		kek.Path(), kek.Versions(), cur, pending)
	return nil
}

// generateKEK runs `arkiv keys generate-kek --out FILE`: a new KEK file, mode 0600, never
// overwriting one that exists. It prints the path, never the key.
func generateKEK(env *cliEnv, args []string) error {
	fs := newFlags(env, "keys generate-kek")
	out := fs.String("out", "", "path of the KEK file to create (required; must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	if err := keyring.GenerateKEKFile(*out); err != nil {
		return configError{"--out", err}
	}
	fmt.Fprintf(env.stdout, "wrote a new key-encryption key to %s (mode 0600); keep it out of backups\n", *out)
	return nil
}
