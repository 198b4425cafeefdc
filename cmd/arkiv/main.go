// Command arkiv is Arkiv's one binary: the API server, the embedded development stack, the
// embedded EventStoreDB server, migrations and operator tools, as subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries what every subcommand shares: output streams and the logger.
type cliEnv struct {
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func commands() map[string]command {
	return map[string]command{
		"version":     {"print the version", cmdVersion},
		"backup":      {"backups: create --out DIR, list, verify DIR, restore DIR", cmdBackup},
		"bootstrap":   {"create an organisation, its first Admin and an API key (prints JSON)", cmdBootstrap},
		"migrate":     {"apply the Postgres migrations to ARKIV_PG_URL", cmdMigrate},
		"projections": {"projection status, or rebuild NAME|--all blue/green", cmdProjections},
		"dev":         {"start the embedded stack and the API server (make run)", cmdDev},
		"eventstore":  {"run the embedded EventStoreDB server (storage in ARKIV_PG_URL)", cmdEventStore},
		"keys":        {"keyring tools: generate-kek, rotate-kek, prune-kek, status", cmdKeys},
		"audit":       {"verifiable log and audit data: generate-key, public-key, verify, prove, verify-proof, checkpoints, export, as-of", cmdAudit},
		"evidence":    {"DPIA evidence bundles: export --org ID --from T1 --to T2 --out FILE.zip, verify FILE.zip --key FILE", cmdEvidence},
		"erasure":     {"erasure certificates: certificate ID (JSON), verify FILE --key FILE", cmdErasure},
		"serve":       {"run the API server against external services", cmdServe},
		"stack":       {"run a command inside the dev stack (stack exec -- CMD)", cmdStack},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{
		stdout: os.Stdout,
		stderr: os.Stderr,
		log:    slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})),
	}
	// Libraries that log through slog.Default or the log package write JSON too.
	slog.SetDefault(env.log)
	os.Exit(run(ctx, env, os.Args[1:]))
}

func run(ctx context.Context, env *cliEnv, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "arkiv: unknown command %q\n\n", args[0])
		usage(env.stderr, cmds)
		return 2
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		var ue usageError
		var ce configError
		if errors.As(err, &ue) || errors.As(err, &ce) {
			fmt.Fprintf(env.stderr, "arkiv %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(env.stderr, "arkiv %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: arkiv <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
}

// usageError marks an error in the command line itself (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// configError marks bad configuration — a setting that names something unusable, such as an
// unreadable key file (exit status 2, one line naming the setting).
type configError struct {
	setting string
	err     error
}

func (e configError) Error() string { return e.setting + ": " + e.err.Error() }

func (e configError) Unwrap() error { return e.err }

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("ARKIV_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// envOr returns the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newFlags returns a FlagSet for a subcommand that reports errors instead of exiting.
func newFlags(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("arkiv "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// parse parses args and wraps a bad command line as a usageError.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}

func cmdVersion(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "arkiv", version)
	return nil
}
