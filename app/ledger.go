package app

import (
	"context"
	"encoding/base64"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// ledgerRun is the ledger's background work: the checkpointer and the monitor that
// verifies each new range after a checkpoint.
type ledgerRun struct {
	checkpointer *ledgerproj.Checkpointer
	monitor      *ledgerproj.Monitor
}

// openLedger builds the ledger reader and, when this process runs the projections and has
// a signing key, the checkpointer and the monitor.
func (p *Platform) openLedger() error {
	vkey := ""
	if p.cfg.SigningKey != nil {
		vkey = p.cfg.SigningKey.VerifierKey
	}
	p.Ledger = ledgerproj.NewReader(p.Pool, vkey)
	if !p.cfg.Projections || p.cfg.SigningKey == nil {
		return nil
	}
	keys := append([]note.Verifier{p.cfg.SigningKey.Verifier()}, p.cfg.LedgerKeys...)
	m, err := ledgerproj.NewMonitor(ledgerproj.MonitorConfig{
		Log:   ledgerproj.NewLogReader(eventlog.NewFrom(p.Store, esdbwatermill.Options{Logger: p.log})),
		Store: p.Store, Reader: p.Ledger, Keys: keys, Clock: p.clock, Logger: p.log,
	})
	if err != nil {
		return err
	}
	c, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{
		Pool: p.Pool, Store: p.Store, Key: p.cfg.SigningKey, Every: p.cfg.CheckpointEvery, Interval: p.cfg.CheckpointInterval,
		Clock: p.clock, Logger: p.log, Checkpointed: m.Checkpointed,
	})
	if err != nil {
		return err
	}
	p.ledger = &ledgerRun{checkpointer: c, monitor: m}
	return nil
}

// runLedger starts the checkpointer and the monitor (when configured) in wg.
func (p *Platform) runLedger(ctx context.Context, wg *sync.WaitGroup) {
	if p.ledger == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The checkpointer and the monitor it tells of each checkpoint hold one lock together.
		_ = p.exclusively(ctx, LockLedger, func(ctx context.Context) error {
			var lwg sync.WaitGroup
			for _, run := range []func(context.Context) error{p.ledger.checkpointer.Run, p.ledger.monitor.Run} {
				lwg.Add(1)
				go func() {
					defer lwg.Done()
					if err := run(ctx); err != nil && ctx.Err() == nil {
						p.log.Error("ledger stopped", "kind", domain.KindOf(err).String())
					}
				}()
			}
			lwg.Wait()
			return nil
		})
	}()
}

// ledgerAPI adapts the ledger's reader to what the GraphQL API serves.
type ledgerAPI struct{ r *ledgerproj.Reader }

var _ graphql.Ledger = ledgerAPI{}

// Integrity implements graphql.Ledger.
func (l ledgerAPI) Integrity(ctx context.Context) (*generated.AuditIntegrity, error) {
	out := &generated.AuditIntegrity{PublicKey: l.r.PublicKey()}
	cp, err := l.r.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		out.Checkpoint = &generated.LedgerCheckpoint{Note: cp.Note, TreeSize: int(cp.Size),
			RootHash: base64.StdEncoding.EncodeToString(cp.Root), SignedAt: cp.SignedAt.UTC()}
	}
	tail, err := l.r.UnanchoredTail(ctx)
	if err != nil {
		return nil, err
	}
	out.UnanchoredTail = int(tail)
	v, err := l.r.LastVerification(ctx)
	if err != nil {
		return nil, err
	}
	if v != nil {
		lv := &generated.LedgerVerification{FinishedAt: v.FinishedAt.UTC(), Ok: v.OK, VerifiedLeaves: int(v.Leaves),
			CheckpointSize: int(v.Checkpoint)}
		if v.Failure != nil {
			msg := v.Failure.Error()
			lv.Failure = &msg
		}
		out.LastVerification = lv
	}
	return out, nil
}

// Proof implements graphql.Ledger: the proof as its C2SP tlog-proof text.
func (l ledgerAPI) Proof(ctx context.Context, eventID string) (string, error) {
	p, err := l.r.Proof(ctx, eventID)
	if err != nil {
		return "", err
	}
	return string(p.Marshal()), nil
}
