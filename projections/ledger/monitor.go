package ledger

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// Position is a position in $all (commit and prepare, as EventStoreDB assigns them).
type Position struct{ Commit, Prepare uint64 }

// Page is one chunk of the log.
type Page struct {
	// Entries are the non-system events read, in log order.
	Entries []ledger.Entry
	// Last is the position of the last event read, system events included (nil: none).
	Last *Position
	// End reports that the read reached the end of the log.
	End bool
}

// LogReader reads the log forwards (NewLogReader).
type LogReader interface {
	// ReadPage returns up to max entries after after (nil: from the start).
	ReadPage(ctx context.Context, after *Position, max int) (Page, error)
	// Head returns the position of the last non-system event, nil for an empty log.
	Head(ctx context.Context) (*Position, error)
}

// MonitorConfig configures a Monitor. Log, Store, Reader and Keys are required.
type MonitorConfig struct {
	Log    LogReader
	Store  Appender
	Reader *Reader
	// Keys are the trusted verifier keys (the current one and older ones after rotations).
	Keys []note.Verifier
	// Clock defaults to domain.SystemClock, Logger to slog.Default().
	Clock  domain.Clock
	Logger *slog.Logger
}

// Monitor is `arkiv serve`'s running verification: it verifies the whole log once, then
// after each checkpoint the new range since the previous run, keeping the verifier's state
// in between. Each run is recorded (Reader.LastVerification); the first failure is also
// logged as an error and appended to the ledger stream as a ledger.verification_failed.v1
// event.
type Monitor struct {
	cfg      MonitorConfig
	v        *ledger.Verifier
	after    *Position
	kick     chan struct{}
	reported bool
}

// NewMonitor returns a monitor that has verified nothing yet.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.Log == nil || cfg.Store == nil || cfg.Reader == nil || len(cfg.Keys) == 0 {
		return nil, domain.E(domain.KindInternal, "ledger.monitor", "a log, an event store, a reader and keys are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Monitor{cfg: cfg, v: ledger.NewVerifier(ledger.Options{Keys: note.VerifierList(cfg.Keys...)}), kick: make(chan struct{}, 1)}, nil
}

// Checkpointed asks for a run; it never blocks (CheckpointerConfig.Checkpointed).
func (m *Monitor) Checkpointed(ledger.Checkpoint) {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run verifies the log at once and after each Checkpointed call until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	for {
		if _, err := m.VerifyNew(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Error("ledger verification could not run", "kind", domain.KindOf(err).String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		}
	}
}

// VerifyNew verifies the events appended since the previous run, records the outcome and
// returns the report. After a failure it verifies nothing more (the log is broken at that
// point) but keeps recording it.
func (m *Monitor) VerifyNew(ctx context.Context) (ledger.Report, error) {
	for m.v.Failed() == nil {
		page, err := m.cfg.Log.ReadPage(ctx, m.after, PageSize)
		if err != nil {
			return ledger.Report{}, err
		}
		for _, e := range page.Entries {
			if err := m.v.Add(ctx, e); err != nil {
				break
			}
		}
		if page.Last != nil {
			m.after = page.Last
		}
		if page.End || page.Last == nil {
			break
		}
	}
	rep := m.v.Report()
	var cpSize uint64
	if rep.Latest != nil {
		cpSize = rep.Latest.Size
	}
	now := m.cfg.Clock.Now()
	if err := m.cfg.Reader.RecordVerification(ctx, Verification{FinishedAt: now, Leaves: rep.Leaves, Checkpoint: cpSize,
		OK: rep.OK, Failure: rep.Failure}); err != nil {
		return rep, err
	}
	if f := rep.Failure; f != nil && !m.reported {
		m.cfg.Logger.Error("ledger verification failed", "check", f.Check, "stream", f.Stream, "revision", f.Revision,
			"leaf", f.LeafIndex, "position", f.Position, "event_id", f.EventID, "detail", f.Detail)
		data, err := json.Marshal(f)
		if err != nil {
			return rep, err
		}
		id := uuid.NewSHA1(checkpointNS, append([]byte("verification failed/"), data...)).String()
		if _, err := appendToLedger(ctx, m.cfg.Store, ledger.VerificationFailedType, id, data, now, nil); err != nil {
			return rep, err
		}
		m.reported = true
	}
	return rep, nil
}
