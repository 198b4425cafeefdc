package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private Postgres cluster under the data directory, listening on a free
// loopback port so that it never collides with a Postgres already running on 5432.
type Postgres struct {
	// URL connects to the cluster's "arkiv" database as the superuser "arkiv".
	URL   string
	Port  int
	dir   string
	log   string
	child *child
}

// ErrNoPostgres says that no initdb/postgres binaries were found.
var ErrNoPostgres = errors.New("no Postgres server binaries found (initdb, postgres): " +
	"install Debian's postgresql package (apt-get install postgresql) or set ARKIV_PG_URL")

// PostgresBinDir finds the directory holding initdb and postgres: Debian's
// /usr/lib/postgresql/<version>/bin (highest version first), then $PATH.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartPostgres creates the cluster under dataDir/postgres on first use and starts it.
// initdb and postgres refuse to run as root, so as root they run as the "postgres" user.
func StartPostgres(ctx context.Context, dataDir string, log *slog.Logger) (*Postgres, error) {
	return StartPostgresOnPort(ctx, dataDir, 0, log)
}

// StartPostgresOnPort is StartPostgres on a given port (0 picks a free one): the fault
// tests restart a cluster where its clients expect it.
func StartPostgresOnPort(ctx context.Context, dataDir string, port int, log *slog.Logger) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if cred != nil && !traversable(base, uid) {
		sum := sha256.Sum256([]byte(base))
		alt := filepath.Join(os.TempDir(), "arkiv-pg-"+hex.EncodeToString(sum[:6]))
		log.Info("data directory is not reachable by the postgres user; using a directory under the system temp dir", "dir", alt)
		base = alt
	}
	dir := filepath.Join(base, "postgres")
	sock := filepath.Join(base, "postgres-run")
	for _, d := range []string{base, sock} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if cred != nil {
		if err := os.Chown(sock, uid, gid); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(base, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if cred != nil {
		_ = os.Chown(logPath, uid, gid)
	}

	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("creating a private Postgres cluster", "dir", dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(dir, uid, gid); err != nil {
				return nil, err
			}
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", "arkiv",
			"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = os.TempDir()
		if err := cmd.Run(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("initdb failed: %v\n%s", err, tailFile(logPath, 2000))
		}
	}

	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port),
		"-k", sock, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400",
		"-c", "shared_buffers=256MB", "-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = os.TempDir()
	c, err := startChild("postgres", cmd, syscall.SIGINT)
	if err != nil {
		return nil, err
	}
	p := &Postgres{Port: port, dir: dir, log: logPath, child: c,
		URL: fmt.Sprintf("postgres://arkiv@127.0.0.1:%d/arkiv?sslmode=disable", port)}
	admin := fmt.Sprintf("postgres://arkiv@127.0.0.1:%d/postgres?sslmode=disable", port)
	err = waitFor(ctx, c, 60*time.Second, func() string { return tailFile(logPath, 2000) }, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname='arkiv')").Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE arkiv"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = c.Stop(10 * time.Second)
		if strings.Contains(tailFile(logPath, 2000), "lock file \"postmaster.pid\" already exists") {
			return nil, fmt.Errorf("another postgres is already running on %s (an earlier arkiv still running?): %w", dir, err)
		}
		return nil, err
	}
	log.Info("postgres ready", "port", port)
	return p, nil
}

// Close stops the cluster with a fast shutdown.
func (p *Postgres) Close() error { return p.child.Stop(30 * time.Second) }

// postgresCredential returns the credential to run Postgres with: nil when not root,
// otherwise the "postgres" system user.
func postgresCredential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, errors.New("running as root, and Postgres refuses to run as root: " +
			"no \"postgres\" user exists to run it as (Debian's postgresql package creates one)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// traversable reports whether every ancestor of path can be searched by uid.
func traversable(path string, uid int) bool {
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return false
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		ok := st.Mode()&0o001 != 0 || (sys != nil && int(sys.Uid) == uid && st.Mode()&0o100 != 0)
		if !ok {
			return false
		}
		if p == "/" || p == "." {
			return true
		}
	}
}
