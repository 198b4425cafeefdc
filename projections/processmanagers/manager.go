// Package processmanagers runs the process managers that make erasure and retention real:
// they follow the log like projections (Watermill Router handlers run by engine.Runner,
// each with its own checkpoint in Postgres, committed in the same transaction as its state),
// and act on the keyring and through commands.
//
// The erasure manager hides an erased subject at once (keyring StartShredding with the
// order's grace window), restores it when the order is restored, completes the order through
// the CompleteErasure command as the system actor once the grace window has passed, and
// destroys the key material when erasure.completed.v1 arrives. The retention manager destroys
// retention buckets (an assistant's messages of one day), model-log buckets (an
// organisation's model payloads of one day) and audit-log buckets (the sealed detail of an
// organisation's audit entries of one day) once their retention period has ended, and
// records each destruction with the RecordRetentionDestruction command.
//
// Unlike read-model projections, these handlers have effects outside their transaction (the
// keyring, the event store). Every such effect is idempotent, so an event applied again after
// a crash before its checkpoint committed changes nothing. They must not be rebuilt: a replay
// from the start would re-run old decisions, which is why they run on a runner of their own
// and are not among the read-model projections that `arkiv projections rebuild` knows.
package processmanagers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Keyring is what the process managers need of the keyring (infra/keyring implements it).
type Keyring interface {
	// StartShredding hides a subject now and keeps it restorable for grace; grace 0 destroys
	// it at once. It is idempotent.
	StartShredding(ctx context.Context, s domain.Subject, reason, requester string, grace time.Duration) error
	// Restore brings a shredding subject back while its window lasts.
	Restore(ctx context.Context, s domain.Subject) error
	// DestroyAll destroys the keys of shredding subjects now; destroyed ones are skipped.
	DestroyAll(ctx context.Context, subjects []domain.Subject) (int, error)
	// SetDestroyAfter moves a shredding subject's window end (legal holds).
	SetDestroyAfter(ctx context.Context, s domain.Subject, destroyAfter time.Time) error
	// DestroyDue destroys shredding subjects whose window has ended and finishes
	// destructions whose purge of the key table was deferred.
	DestroyDue(ctx context.Context) (int, error)
}

// Certifier writes the certificate of a completed erasure, through the CertifyErasure
// command as the system actor with CertificationCommandID; KindConflict means it already
// has one.
type Certifier interface {
	Certify(ctx context.Context, erasureID string) error
}

// Deps are what New needs. Pool, Log, Keyring, App and Clock are required.
type Deps struct {
	// Pool reaches the read-model database, migrated by infra/postgres (migration
	// 00004_process_managers holds the managers' tables).
	Pool *pgxpool.Pool
	// Log is the event log ($all), e.g. app/eventlog.New.
	Log engine.Log
	// Keyring is the keyring the event codec uses.
	Keyring Keyring
	// App runs CompleteErasure and RecordRetentionDestruction as domain.SystemActor.
	App *commands.App
	// Clock tells the time for grace windows and retention periods.
	Clock domain.Clock
	// Certifier, if set, writes the certificate of each completed erasure (app's erasure
	// certifier); nil leaves completed erasures uncertified.
	Certifier Certifier
	// Logger receives operational logs (ids and counts, never personal data); nil means
	// slog.Default().
	Logger *slog.Logger
	// ErasureInterval is how often erasures whose grace window has passed are completed
	// (default one minute).
	ErasureInterval time.Duration
	// RetentionInterval is how often the retention sweep runs (default one hour). A sweep
	// destroys only buckets whose retention has ended, so this bounds how long after that a
	// bucket survives; buckets are per day, so the effect is a daily destruction.
	RetentionInterval time.Duration
	// CatchUpTimeout bounds how long a retention sweep waits for the retention manager to
	// reach the head of the log before it gives up until the next interval (default 30 s).
	CatchUpTimeout time.Duration
}

// The names of the managers: their checkpoint keys in projection_checkpoints. Never change
// them.
const (
	ErasureName   = "pm_erasure"
	RetentionName = "pm_retention"
)

// shredMargin is added to keyring windows beyond the erasure's own grace window (capped at
// the keyring's maximum): the erasure is completed and destroyed explicitly by this manager
// at its effective time, and the margin keeps a restore accepted just before that time
// restorable in the keyring while the manager catches up with it.
const shredMargin = time.Hour

// maxKeyringGrace is the longest window the keyring accepts (keyring.MaxGrace), equal to the
// longest erasure grace window.
const maxKeyringGrace = domain.MaxErasureGraceDays * 24 * time.Hour

// Manager runs the erasure and retention process managers and their schedulers.
type Manager struct {
	d         Deps
	log       *slog.Logger
	runner    *engine.Runner
	erasure   *erasureManager
	retention *retentionManager
}

// New checks d and returns a Manager; Run starts it.
func New(d Deps) (*Manager, error) {
	const op = "processmanagers.New"
	switch {
	case d.Pool == nil:
		return nil, domain.E(domain.KindInternal, op, "nil pool")
	case d.Log == nil:
		return nil, domain.E(domain.KindInternal, op, "nil log")
	case d.Keyring == nil:
		return nil, domain.E(domain.KindInternal, op, "nil keyring")
	case d.App == nil || d.App.CompleteErasure == nil || d.App.RecordRetentionDestruction == nil:
		return nil, domain.E(domain.KindInternal, op, "nil command app")
	case d.Clock == nil:
		return nil, domain.E(domain.KindInternal, op, "nil clock")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.ErasureInterval <= 0 {
		d.ErasureInterval = time.Minute
	}
	if d.RetentionInterval <= 0 {
		d.RetentionInterval = time.Hour
	}
	if d.CatchUpTimeout <= 0 {
		d.CatchUpTimeout = 30 * time.Second
	}
	m := &Manager{d: d, log: d.Logger}
	m.erasure = &erasureManager{d: d, log: d.Logger}
	m.retention = &retentionManager{d: d, log: d.Logger, kicks: make(chan struct{}, 1)}
	// The managers call the keyring and the event store, so an outage of either fails an
	// event; they retry for about 25 minutes (50 times, backing off to 30 s) before stopping
	// on it as a poison event, where read-model projections give up after seconds.
	r, err := engine.NewRunner(engine.Config{Pool: d.Pool, Log: d.Log,
		Projections: []engine.Projection{m.erasure, m.retention}, Logger: d.Logger, Clock: d.Clock,
		MaxRetries: 50, RetryMax: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	m.runner = r
	return m, nil
}

// Names returns the managers' names (their checkpoint keys), for status reports.
func (m *Manager) Names() []string { return m.runner.Names() }

// Status reports both managers like engine.Runner.Status.
func (m *Manager) Status(ctx context.Context) ([]engine.Status, *engine.Position, error) {
	return m.runner.Status(ctx)
}

// Run follows the log and runs the schedulers until ctx ends, then stops gracefully: the
// handlers finish the event at hand and the schedulers their current round. It returns nil
// after a cancellation, or the runner's error when a manager stopped on a poison event.
func (m *Manager) Run(ctx context.Context) error {
	rounds, stopRounds := context.WithCancel(ctx)
	defer stopRounds()
	var wg sync.WaitGroup
	every := func(name string, interval time.Duration, kicks <-chan struct{}, f func(context.Context) (int, error)) {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := f(rounds); err != nil && rounds.Err() == nil {
				level := slog.LevelError
				if domain.Is(domain.KindUnavailable, err) {
					level = slog.LevelWarn
				}
				m.log.Log(rounds, level, "process manager round failed; retrying next round", "round", name, "done", n, "err", err)
			}
			select {
			case <-rounds.Done():
				return
			case <-t.C:
			case <-kicks:
			}
		}
	}
	wg.Add(2)
	go every("erasure completion", m.d.ErasureInterval, nil, m.CompleteDueErasures)
	// A change of retention settings kicks a sweep at once, so a shorter period applies to
	// existing entries without waiting for the next interval.
	go every("retention sweep", m.d.RetentionInterval, m.retention.kicks, m.SweepRetention)
	// The runner returns when ctx ends or when both managers have stopped on poison events;
	// either way the schedulers stop with it.
	err := m.runner.Run(ctx)
	stopRounds()
	wg.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// CompleteDueErasures completes, through the CompleteErasure command as the system actor,
// every pending erasure whose grace window has passed; the erasure manager destroys the key
// material when the completion event reaches it. The command id is derived from the erasure
// id, so completing twice (two rounds, a restart, two processes) appends one event. It
// returns how many erasures it completed.
//
// It then runs the keyring's DestroyDue: a backstop for keys whose window has ended, and the
// purge of the key table that a destruction inside a manager's transaction has to defer (a
// purge waits for every open transaction on the server, the manager's own included).
func (m *Manager) CompleteDueErasures(ctx context.Context) (int, error) {
	n, err := m.erasure.completeDue(ctx)
	if _, derr := m.d.Keyring.DestroyDue(ctx); derr != nil && err == nil {
		err = derr
	}
	if _, cerr := m.CertifyCompletedErasures(ctx); cerr != nil && err == nil {
		err = cerr
	}
	return n, err
}

// CertifyCompletedErasures writes, through Deps.Certifier, the certificate of every
// erasure the erasure manager has seen completed and not yet certified. It runs in every
// erasure round; it returns how many it certified.
func (m *Manager) CertifyCompletedErasures(ctx context.Context) (int, error) {
	return m.erasure.certifyDue(ctx)
}

// SweepRetention destroys every retention, model-log and audit-log bucket whose retention has ended
// and records the destructions; it first waits until the retention manager has caught up
// with the log, so that it applies current retention settings. It returns how many buckets
// it destroyed.
func (m *Manager) SweepRetention(ctx context.Context) (int, error) {
	if err := m.waitCaughtUp(ctx, RetentionName); err != nil {
		return 0, err
	}
	return m.retention.sweep(ctx)
}

// waitCaughtUp waits until the named manager's checkpoint has reached the head of the log as
// it was when waitCaughtUp was called, for at most CatchUpTimeout.
func (m *Manager) waitCaughtUp(ctx context.Context, name string) error {
	const op = "processmanagers.catch_up"
	head, err := m.d.Log.Head(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "read the head of the log")
	}
	if head == nil {
		return nil
	}
	deadline := time.Now().Add(m.d.CatchUpTimeout)
	for {
		var c, p int64
		err := m.d.Pool.QueryRow(ctx, `SELECT commit_position, prepare_position FROM projection_checkpoints WHERE name = $1`, name).Scan(&c, &p)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return domain.Wrap(domain.KindUnavailable, op, err, "read checkpoint")
		}
		if err == nil && !(engine.Position{Commit: uint64(c), Prepare: uint64(p)}).Less(*head) {
			return nil
		}
		if time.Now().After(deadline) {
			return domain.Errorf(domain.KindUnavailable, op, "%s has not caught up with the log; retrying next round", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// metadata is the part of an event's metadata the managers read.
type metadata struct {
	Organization string   `json:"organization"`
	Space        string   `json:"space"`
	Subjects     []string `json:"subjects"`
}

func parseMetadata(ev engine.Event) metadata {
	var md metadata
	if len(ev.Metadata) > 0 {
		// Events without Arkiv metadata (foreign writers) carry no subjects: nothing to index.
		_ = engine.DecodeJSON(ev.Metadata, &md)
	}
	return md
}

// decode unmarshals an event payload's plain fields; sealed fields must not be named in into.
func decode(ev engine.Event, into any) error {
	if err := engine.DecodeJSON(ev.Data, into); err != nil {
		return domain.Wrap(domain.KindInvalid, "processmanagers.decode", err, "undecodable "+ev.Type+" payload")
	}
	return nil
}

func clampGrace(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if d > maxKeyringGrace {
		return maxKeyringGrace
	}
	return d
}
