package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// Appender is what the checkpointer and the monitor need of the event store (the app's
// event store port; infra/eventstore implements it over the official client).
type Appender interface {
	// Last reads the last event of a stream; found is false when there is none.
	Last(ctx context.Context, stream string) (rec domain.Recorded, found bool, err error)
	// Append appends events if the stream's revision is expected (domain.NoStream: it must
	// not exist); a different revision is a KindConflict error.
	Append(ctx context.Context, stream string, expected int64, events []domain.Proposed) (position uint64, err error)
}

// CheckpointerConfig configures a Checkpointer. Pool, Store and Key are required.
type CheckpointerConfig struct {
	// Pool reaches the ledger tables.
	Pool *pgxpool.Pool
	// Store appends checkpoint events to the ledger stream.
	Store Appender
	// Key signs checkpoints; its name is the log's origin.
	Key *ledger.Key
	// Every is how many new leaves call for a checkpoint (default 1000), Interval how long
	// new leaves may wait for one at most (default 10s), Poll how often the tree is looked
	// at (default 200ms).
	Every    uint64
	Interval time.Duration
	Poll     time.Duration
	// Clock defaults to domain.SystemClock.
	Clock domain.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Checkpointed, when set, is called after each checkpoint is appended.
	Checkpointed func(cp ledger.Checkpoint)
}

// Checkpointer signs the projected tree every Every leaves or Interval, whichever comes
// first, and appends the signed note to the ledger stream. Leaves that are only
// checkpoint events never call for a new checkpoint, so an idle log stays idle.
type Checkpointer struct {
	cfg      CheckpointerConfig
	lastSize uint64
	lastAt   time.Time
	loaded   bool
}

// NewCheckpointer checks cfg and returns a Checkpointer.
func NewCheckpointer(cfg CheckpointerConfig) (*Checkpointer, error) {
	const op = "ledger.checkpointer"
	if cfg.Pool == nil || cfg.Store == nil || cfg.Key == nil {
		return nil, domain.E(domain.KindInternal, op, "a pool, an event store and a signing key are required")
	}
	if cfg.Every == 0 {
		cfg.Every = 1000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Checkpointer{cfg: cfg}, nil
}

// Run checkpoints until ctx ends. Failures are logged and retried at the next poll.
func (c *Checkpointer) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Error("ledger checkpoint failed", "kind", domain.KindOf(err).String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick signs and appends a checkpoint when one is due and returns it (nil: none was due).
func (c *Checkpointer) Tick(ctx context.Context) (*ledger.Checkpoint, error) {
	if !c.loaded {
		// The projected checkpoints may lag the log (a restart while the ledger catches
		// up): the log's last checkpoint, when it is the stream's last event, is the truth.
		var size int64
		var at *time.Time
		if err := c.cfg.Pool.QueryRow(ctx, `SELECT coalesce(max(size), 0), max(signed_at) FROM ledger_checkpoints`).Scan(&size, &at); err != nil {
			return nil, err
		}
		c.lastSize = uint64(size)
		if at != nil {
			c.lastAt = *at
		}
		last, found, err := c.cfg.Store.Last(ctx, ledger.DefaultStream)
		if err != nil {
			return nil, err
		}
		if n, ok := checkpointSize(last); found && ok && n > c.lastSize {
			c.lastSize, c.lastAt = n, last.Created
		}
		c.loaded = true
	}
	st, err := loadTree(ctx, c.cfg.Pool)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Clock.Now()
	if st.contentSize <= c.lastSize || (st.size-c.lastSize < c.cfg.Every && now.Sub(c.lastAt) < c.cfg.Interval) {
		return nil, nil
	}
	cp := ledger.Checkpoint{Origin: c.cfg.Key.Origin(), Size: st.size, Root: st.root}
	msg, err := cp.Sign(c.cfg.Key.Signer)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(ledger.CheckpointData{Note: string(msg), Size: cp.Size, Root: b64(cp.Root),
		KeyHash: fmt.Sprintf("%08x", c.cfg.Key.Signer.KeyHash())})
	if err != nil {
		return nil, err
	}
	id := uuid.NewSHA1(checkpointNS, []byte(fmt.Sprintf("%s/%d/%s", cp.Origin, cp.Size, hex.EncodeToString(cp.Root)))).String()
	// Never sign a smaller tree than the log's last checkpoint (another replica's
	// checkpointer may be ahead of this one's projection).
	ahead := func(last domain.Recorded) bool {
		n, ok := checkpointSize(last)
		if ok && n >= cp.Size {
			c.lastSize = max(c.lastSize, n)
			return true
		}
		return false
	}
	skipped, err := appendToLedger(ctx, c.cfg.Store, ledger.CheckpointType, id, data, now, ahead)
	if err != nil || skipped {
		return nil, err
	}
	c.lastSize, c.lastAt = cp.Size, now
	c.cfg.Logger.Info("ledger checkpoint signed", "size", cp.Size)
	if c.cfg.Checkpointed != nil {
		c.cfg.Checkpointed(cp)
	}
	return &cp, nil
}

// checkpointNS derives checkpoint event ids from the checkpoint, so a retried append is
// idempotent.
var checkpointNS = uuid.MustParse("5b8f3c0e-9a0c-4f6e-8d7e-2f9b1d0a6c41")

// checkpointSize returns the tree size of a checkpoint event.
func checkpointSize(r domain.Recorded) (uint64, bool) {
	if r.Type != ledger.CheckpointType {
		return 0, false
	}
	var d ledger.CheckpointData
	if json.Unmarshal(r.Data, &d) != nil {
		return 0, false
	}
	return d.Size, true
}

// appendToLedger appends one event to the ledger stream after its current last event, with
// the per-stream predecessor hash every Arkiv event carries, retrying on a concurrent
// append. skip, when not nil, is asked about the last event first: true appends nothing.
func appendToLedger(ctx context.Context, store Appender, typ, id string, data []byte, now time.Time, skip func(domain.Recorded) bool) (skipped bool, err error) {
	for range 5 {
		var last domain.Recorded
		var found bool
		if last, found, err = store.Last(ctx, ledger.DefaultStream); err != nil {
			return false, err
		}
		if found && skip != nil && skip(last) {
			return true, nil
		}
		expected, prev := domain.NoStream, ""
		if found {
			expected, prev = int64(last.Revision), domain.HashOf(last)
		}
		md, merr := json.Marshal(domain.Metadata{Actor: domain.SystemActor, CommandID: id, CorrelationID: id, CausationID: id,
			SchemaVersion: domain.SchemaVersion(typ), PrevHash: prev, OccurredAt: now.UTC()})
		if merr != nil {
			return false, merr
		}
		_, err = store.Append(ctx, ledger.DefaultStream, expected, []domain.Proposed{{EventID: id, Type: typ, Data: data, Metadata: md}})
		if domain.KindOf(err) != domain.KindConflict {
			return false, err
		}
	}
	return false, err
}
