package main

import (
	"context"
	"fmt"

	"github.com/arkiv/arkiv/infra/postgres"
)

// cmdMigrate applies the embedded Postgres migrations to ARKIV_PG_URL.
func cmdMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "migrate")
	pgURL := fs.String("pg-url", envOr("ARKIV_PG_URL", ""), "Postgres for read models (ARKIV_PG_URL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pgURL == "" {
		return usageError{"no database: set ARKIV_PG_URL (or --pg-url)"}
	}
	if err := postgres.Migrate(ctx, *pgURL); err != nil {
		return err
	}
	applied, _, err := postgres.Version(ctx, *pgURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "schema at version %d\n", applied)
	return nil
}
