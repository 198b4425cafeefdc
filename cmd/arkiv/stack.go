package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/arkiv/arkiv/infra/devstack"
)

// cmdStack runs a command inside the dev stack: `arkiv stack exec -- go test ./...` starts the
// private Postgres, a private NATS server with JetStream and the local Weaviate (unless
// ARKIV_PG_URL / ARKIV_NATS_URL / ARKIV_WEAVIATE_URL are set),
// exports their addresses to the command, and stops everything when it ends.
func cmdStack(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] != "exec" {
		return usageError{"usage: arkiv stack exec [--data-dir DIR] -- COMMAND [ARG...]"}
	}
	fs := newFlags(env, "stack exec")
	dataDir := fs.String("data-dir", envOr("ARKIV_DATA_DIR", ".data"), "where the stack keeps its data (ARKIV_DATA_DIR)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return usageError{"no command given after --"}
	}
	st, err := devstack.Start(ctx, devstack.Config{
		DataDir:     *dataDir,
		BinDir:      envOr("ARKIV_BIN_DIR", ""),
		PGURL:       os.Getenv("ARKIV_PG_URL"),
		WeaviateURL: os.Getenv("ARKIV_WEAVIATE_URL"),
		NATSURL:     os.Getenv("ARKIV_NATS_URL"),
		Progress:    env.stderr,
		Log:         env.log,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.stdout, env.stderr
	cmd.Env = append(os.Environ(), "ARKIV_PG_URL="+st.PGURL, "ARKIV_WEAVIATE_URL="+st.WeaviateURL,
		"ARKIV_NATS_URL="+st.NATSURL, "ARKIV_BIN_DIR="+st.BinDir)
	if st.WeaviateGRPC != "" {
		cmd.Env = append(cmd.Env, "ARKIV_WEAVIATE_GRPC="+st.WeaviateGRPC)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The child got the same terminal signal; give it time to finish, then end it.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitCode(ee.ExitCode())
	}
	return err
}

// exitCode is an error carrying a child's exit status, passed through by main.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
