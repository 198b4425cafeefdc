package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
)

// Config says where the stack lives and which services are external.
type Config struct {
	// DataDir holds everything the stack keeps: clusters, logs, binaries (default ".data").
	DataDir string
	// PGURL, when set, is an external Postgres: no private cluster is started.
	PGURL string
	// WeaviateURL, when set, is an external Weaviate: none is built or started.
	WeaviateURL string
	// NATSURL, when set, is an external NATS: no private nats-server is started.
	NATSURL string
	// BinDir holds built binaries (default DataDir/bin), shared between stacks.
	BinDir string
	// Progress receives build progress for long first-run steps.
	Progress io.Writer
	Log      *slog.Logger
}

// Stack is a running development stack.
type Stack struct {
	PGURL       string
	WeaviateURL string
	// WeaviateGRPC is the local Weaviate's gRPC address (host:port); empty for an external
	// Weaviate.
	WeaviateGRPC string
	// NATSURL is the NATS server (JetStream enabled) the stack started, or the external one.
	NATSURL string
	// BinDir is the absolute directory of the binaries the stack builds (Weaviate).
	BinDir string
	pg     *Postgres
	wv     *Weaviate
	nats   *NATS
}

// Start brings up what is not external: the private Postgres, a private NATS server with
// JetStream and the local Weaviate.
// On error, whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = ".data"
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.DataDir, "bin")
	}
	if cfg.BinDir, err = filepath.Abs(cfg.BinDir); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	s = &Stack{PGURL: cfg.PGURL, WeaviateURL: cfg.WeaviateURL, NATSURL: cfg.NATSURL, BinDir: cfg.BinDir}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	// Build Weaviate first: on a fresh machine it is the long step, and Postgres need not
	// idle while it runs.
	var wbin string
	if s.WeaviateURL == "" {
		if wbin, err = WeaviateBinary(ctx, cfg.BinDir, cfg.Progress); err != nil {
			return s, err
		}
	}
	if s.PGURL == "" {
		if s.pg, err = StartPostgres(ctx, cfg.DataDir, cfg.Log); err != nil {
			return s, err
		}
		s.PGURL = s.pg.URL
	}
	if s.NATSURL == "" {
		if s.nats, err = StartNATS(ctx, cfg.DataDir, cfg.Log); err != nil {
			return s, err
		}
		s.NATSURL = s.nats.URL
	}
	if s.WeaviateURL == "" {
		if s.wv, err = StartWeaviate(ctx, wbin, cfg.DataDir, cfg.Log); err != nil {
			return s, err
		}
		s.WeaviateURL = s.wv.URL
		s.WeaviateGRPC = fmt.Sprintf("127.0.0.1:%d", s.wv.GRPCPort)
	}
	return s, nil
}

// Close stops every process the stack started, Weaviate first, Postgres last.
func (s *Stack) Close() error {
	var errs []error
	if s.wv != nil {
		errs = append(errs, s.wv.Close())
		s.wv = nil
	}
	if s.nats != nil {
		errs = append(errs, s.nats.Close())
		s.nats = nil
	}
	if s.pg != nil {
		errs = append(errs, s.pg.Close())
		s.pg = nil
	}
	return errors.Join(errs...)
}
