package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// NotifyChannel is the Postgres LISTEN channel on which every checkpoint commit and every
// projection failure is announced, with payload "<name> <commit position>" or "<name> failed".
const NotifyChannel = "arkiv_projections"

// The states a projection reports in projection_status.
const (
	StateRunning    = "running"
	StateFailed     = "failed"
	StateRebuilding = "rebuilding"
	StateStopped    = "stopped"
)

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// lockCheckpoint takes the projection's transaction-scoped advisory lock, which serialises the
// live runner's batches with a rebuild's swap (and with a second runner of the same name), and
// then reads the checkpoint committed before the lock was granted. The two statements travel
// in one round trip; each gets its own snapshot, so the read sees the latest commit.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, name string) (*Position, error) {
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "arkiv.projection/"+name)
	b.Queue("SELECT commit_position, prepare_position FROM projection_checkpoints WHERE name = $1", name)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	var c, p int64
	if err := br.QueryRow().Scan(&c, &p); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, br.Close()
		}
		return nil, err
	}
	return &Position{Commit: uint64(c), Prepare: uint64(p)}, br.Close()
}

// readCheckpoint returns the committed checkpoint of name, nil when it has none.
func readCheckpoint(ctx context.Context, q queryer, name string) (*Position, error) {
	var c, p int64
	err := q.QueryRow(ctx, "SELECT commit_position, prepare_position FROM projection_checkpoints WHERE name = $1", name).Scan(&c, &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Position{Commit: uint64(c), Prepare: uint64(p)}, nil
}

// OrgsAll and OrgsNone are a checkpoint notification's organisations when the commit may
// concern every organisation (a rebuild, a batch touching many) or none.
const (
	OrgsAll  = "*"
	OrgsNone = "-"
)

// maxNotifiedOrgs bounds the organisations a notification names; a batch touching more is
// announced as OrgsAll.
const maxNotifiedOrgs = 32

// orgsOf names the organisations of evs for a checkpoint notification: their ids joined by
// commas (from each event's metadata), OrgsNone for none, OrgsAll for more than
// maxNotifiedOrgs. Subscriptions of other organisations need not read after the commit.
func orgsOf(evs []Event) string {
	seen := map[string]bool{}
	var ids []string
	for _, e := range evs {
		org, ok := metadataOrganization(e.Metadata)
		if !ok {
			return OrgsAll
		}
		if org == "" || seen[org] {
			continue
		}
		if len(ids) == maxNotifiedOrgs {
			return OrgsAll
		}
		seen[org] = true
		ids = append(ids, org)
	}
	if len(ids) == 0 {
		return OrgsNone
	}
	return strings.Join(ids, ",")
}

// orgKey is how the organisation appears in an event's metadata as Arkiv writes it
// (domain.Metadata, encoding/json: its first property).
var orgKey = []byte(`"organization":"`)

// metadataOrganization finds the organisation in metadata without decoding it: this runs for
// every event of every projection's commits, where a full json.Unmarshal cost 4.5 µs an
// event. It returns "" when there is none, and false when the value is not a plain id (an
// escape, a comma or a space), which the caller announces as every organisation.
func metadataOrganization(md []byte) (string, bool) {
	i := bytes.Index(md, orgKey)
	if i < 0 {
		return "", true
	}
	rest := md[i+len(orgKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	v := rest[:j]
	if bytes.ContainsAny(v, "\\, ") {
		return "", false
	}
	return string(v), true
}

// ParseNotification reads a checkpoint notification: the projection's name, the commit
// position or "failed", and the organisations the commit concerns (OrgsAll when it does not
// say).
func ParseNotification(payload string) (name, val, orgs string, ok bool) {
	name, rest, ok := strings.Cut(payload, " ")
	if !ok {
		return "", "", "", false
	}
	val, orgs, found := strings.Cut(rest, " ")
	if !found || orgs == "" {
		orgs = OrgsAll
	}
	return name, val, orgs, true
}

// writeCheckpoint stores pos as name's checkpoint and announces it on NotifyChannel, with
// the organisations the commit concerns (orgsOf); Postgres delivers the notification only
// when the transaction commits.
func writeCheckpoint(ctx context.Context, q execer, name string, pos Position, now time.Time, orgs string) error {
	_, err := q.Exec(ctx, `WITH up AS (
	INSERT INTO projection_checkpoints (name, commit_position, prepare_position, updated_at)
	VALUES ($1, $2, $3, $4)
	ON CONFLICT (name) DO UPDATE SET commit_position = EXCLUDED.commit_position,
		prepare_position = EXCLUDED.prepare_position, updated_at = EXCLUDED.updated_at
	RETURNING name, commit_position)
SELECT pg_notify('`+NotifyChannel+`', name || ' ' || commit_position || ' ' || $5) FROM up`,
		name, int64(pos.Commit), int64(pos.Prepare), now, orgs)
	return err
}

// setStatus records name's state. failed, when not nil, names the event the projection
// stopped on; errMsg is the error it met.
func setStatus(ctx context.Context, q execer, name, state, errMsg string, failed *Event, now time.Time) error {
	var id any
	var typ any
	var c, p any
	if failed != nil {
		id, typ = failed.ID, failed.Type
		c, p = int64(failed.Position.Commit), int64(failed.Position.Prepare)
	}
	_, err := q.Exec(ctx, `INSERT INTO projection_status
	(name, state, error, failed_event_id, failed_event_type, failed_commit_position, failed_prepare_position, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, error = EXCLUDED.error,
	failed_event_id = EXCLUDED.failed_event_id, failed_event_type = EXCLUDED.failed_event_type,
	failed_commit_position = EXCLUDED.failed_commit_position,
	failed_prepare_position = EXCLUDED.failed_prepare_position, updated_at = EXCLUDED.updated_at`,
		name, state, errMsg, id, typ, c, p, now)
	if err != nil || state != StateFailed {
		return err
	}
	_, err = q.Exec(ctx, "SELECT pg_notify('"+NotifyChannel+"', $1 || ' failed')", name)
	return err
}
