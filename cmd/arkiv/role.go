package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/arkiv/arkiv/infra/postgres"
)

// The roles of `arkiv serve`: api serves GraphQL (any number of replicas behind a load
// balancer, no sticky sessions, with ARKIV_NATS_URL); workers run the projections, the
// process managers, the ledger and scheduled backups, each on exactly one worker at a
// time; all does both in one process.
const (
	roleAll     = "all"
	roleAPI     = "api"
	roleWorkers = "workers"
)

// fanoutLock is the advisory lock by which API replicas detect each other: a replica
// without NATS holds it exclusively, one with NATS shares it, so a second replica beside
// one without NATS, or one without NATS beside any other, is refused.
const fanoutLock = "api-live-fanout"

// applyRole checks --role against --projections (which it replaces) and sets Projections.
func (c *platformConfig) applyRole(fs *flag.FlagSet) error {
	switch c.Role {
	case roleAll, roleAPI, roleWorkers:
	default:
		return usageError{fmt.Sprintf("--role must be api, workers or all (ARKIV_ROLE), not %q", c.Role)}
	}
	roleSet := flagSet(fs, "role") || os.Getenv("ARKIV_ROLE") != ""
	projSet := flagSet(fs, "projections") || os.Getenv("ARKIV_PROJECTIONS") != ""
	if roleSet && projSet && c.Projections != (c.Role != roleAPI) {
		return usageError{fmt.Sprintf("--role %s contradicts --projections=%v (ARKIV_PROJECTIONS): drop --projections, --role replaces it", c.Role, c.Projections)}
	}
	if !roleSet && projSet && !c.Projections {
		c.Role = roleAPI // the older spelling of an API-only replica
	}
	c.Projections = c.Role != roleAPI
	return nil
}

// claimFanout refuses to serve the API beside another replica when live replies could not
// reach every client: a replica without ARKIV_NATS_URL must be the deployment's only one.
// The returned release frees the claim.
func claimFanout(ctx context.Context, cfg platformConfig) (func(), error) {
	shared := cfg.NATSURL != ""
	release, ok, err := postgres.Exclusive{URL: cfg.PGURL}.Hold(ctx, fanoutLock, shared)
	if err != nil {
		return nil, fmt.Errorf("Postgres at ARKIV_PG_URL: %w", err)
	}
	if !ok {
		if shared {
			return nil, usageError{"another API replica of this deployment runs without ARKIV_NATS_URL, so live replies could not reach every replica's clients: set ARKIV_NATS_URL on every API replica"}
		}
		return nil, usageError{"another API replica of this deployment is running, and live replies reach every replica's clients only over NATS: set ARKIV_NATS_URL on every API replica"}
	}
	return release, nil
}
