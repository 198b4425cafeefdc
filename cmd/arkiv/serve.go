package main

import "context"

// cmdServe runs the API server against external services, refusing to start when one is
// missing or unreachable.
func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "serve")
	var cfg platformConfig
	bindPlatformFlags(fs, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.applyRole(fs); err != nil {
		return err
	}
	if err := requireSigningKey(env, cfg.SigningKeyFile); err != nil {
		return err
	}
	p, err := openPlatform(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if cfg.Role != roleWorkers {
		release, err := claimFanout(ctx, cfg)
		if err != nil {
			return err
		}
		defer release()
	}
	return p.serve(ctx, env, nil)
}
