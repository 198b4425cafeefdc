package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// Reader answers questions about the ledger from its projected tables: the latest signed
// checkpoint, the unanchored tail, the last verification run, inclusion proofs, and the
// per-leaf records that let verification name a tampered event. It is what the API's
// auditIntegrity and auditProof fields call.
type Reader struct {
	pool      *pgxpool.Pool
	publicKey string
}

// NewReader returns a reader over the ledger tables in pool; publicKey is the verifier key
// (note format) of the current signing key.
func NewReader(pool *pgxpool.Pool, publicKey string) *Reader {
	return &Reader{pool: pool, publicKey: publicKey}
}

// CheckpointInfo is a signed checkpoint found in the log.
type CheckpointInfo struct {
	ledger.Checkpoint
	// Note is the signed note, verbatim.
	Note string
	// KeyHash is the hex hash of the key that signed it.
	KeyHash string
	// EventID and Position locate the checkpoint event in the log.
	EventID  string
	Position uint64
	// SignedAt is when the checkpoint event was recorded.
	SignedAt time.Time
}

// Verification is the outcome of one verification run of `arkiv serve`.
type Verification struct {
	FinishedAt time.Time
	// Leaves is how many leaves the run had verified, Checkpoint the size of the latest
	// checkpoint it verified (0: none).
	Leaves     uint64
	Checkpoint uint64
	OK         bool
	// Failure is the first failure (nil when OK).
	Failure *ledger.Failure
}

// PublicKey returns the verifier key of the current signing key, in note format.
func (r *Reader) PublicKey() string { return r.publicKey }

const checkpointCols = `size, root, note, key_hash, event_id, position, signed_at`

func scanCheckpoint(row pgx.Row) (CheckpointInfo, error) {
	var c CheckpointInfo
	var size, pos int64
	var id uuid.UUID
	err := row.Scan(&size, &c.Root, &c.Note, &c.KeyHash, &id, &pos, &c.SignedAt)
	if err != nil {
		return c, err
	}
	cp, err := ledger.ParseCheckpoint(noteBody(c.Note))
	if err != nil {
		return c, err
	}
	c.Checkpoint = cp
	c.EventID, c.Position = id.String(), uint64(pos)
	return c, nil
}

func noteBody(n string) []byte {
	for i := 0; i+1 < len(n); i++ {
		if n[i] == '\n' && n[i+1] == '\n' {
			return []byte(n[:i+1])
		}
	}
	return []byte(n)
}

// LatestCheckpoint returns the newest checkpoint the ledger has seen in the log, nil when
// there is none yet.
func (r *Reader) LatestCheckpoint(ctx context.Context) (*CheckpointInfo, error) {
	c, err := scanCheckpoint(r.pool.QueryRow(ctx, `SELECT `+checkpointCols+` FROM ledger_checkpoints ORDER BY size DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "ledger.latest_checkpoint", err, "reading the ledger")
	}
	return &c, nil
}

// Checkpoints returns every checkpoint the ledger has seen, oldest first.
func (r *Reader) Checkpoints(ctx context.Context) ([]CheckpointInfo, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+checkpointCols+` FROM ledger_checkpoints ORDER BY size`)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "ledger.checkpoints", err, "reading the ledger")
	}
	defer rows.Close()
	var out []CheckpointInfo
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, domain.Wrap(domain.KindInternal, "ledger.checkpoints", err, "reading a checkpoint")
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TreeSize returns the number of leaves the ledger has projected.
func (r *Reader) TreeSize(ctx context.Context) (uint64, error) {
	st, err := loadTree(ctx, r.pool)
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, "ledger.tree_size", err, "reading the ledger")
	}
	return st.size, nil
}

// UnanchoredTail returns how many leaves the projected tree holds beyond the latest
// signed checkpoint.
func (r *Reader) UnanchoredTail(ctx context.Context) (uint64, error) {
	size, err := r.TreeSize(ctx)
	if err != nil {
		return 0, err
	}
	cp, err := r.LatestCheckpoint(ctx)
	if err != nil || cp == nil {
		return size, err
	}
	return size - min(size, cp.Size), nil
}

// RecordVerification stores a verification run's outcome.
func (r *Reader) RecordVerification(ctx context.Context, v Verification) error {
	var failure []byte
	if v.Failure != nil {
		failure, _ = json.Marshal(v.Failure)
	}
	_, err := r.pool.Exec(ctx, `INSERT INTO ledger_verifications (finished_at, leaves, checkpoint, ok, failure) VALUES ($1, $2, $3, $4, $5)`,
		v.FinishedAt, int64(v.Leaves), int64(v.Checkpoint), v.OK, failure)
	return err
}

// LastVerification returns the latest recorded verification run, nil when none ran yet.
func (r *Reader) LastVerification(ctx context.Context) (*Verification, error) {
	var v Verification
	var leaves, cp int64
	var failure []byte
	err := r.pool.QueryRow(ctx, `SELECT finished_at, leaves, coalesce(checkpoint, 0), ok, failure FROM ledger_verifications ORDER BY id DESC LIMIT 1`).
		Scan(&v.FinishedAt, &leaves, &cp, &v.OK, &failure)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "ledger.last_verification", err, "reading the ledger")
	}
	v.Leaves, v.Checkpoint = uint64(leaves), uint64(cp)
	if failure != nil {
		v.Failure = &ledger.Failure{}
		if err := json.Unmarshal(failure, v.Failure); err != nil {
			return nil, domain.Wrap(domain.KindInternal, "ledger.last_verification", err, "decoding a failure")
		}
	}
	return &v, nil
}

// Proof returns the inclusion proof of an event in the newest checkpoint that covers it.
// An event the ledger has not seen, or that no checkpoint covers yet, is KindNotFound; an
// id that is not a UUID KindInvalid.
func (r *Reader) Proof(ctx context.Context, eventID string) (ledger.Proof, error) {
	const op = "ledger.proof"
	id, err := uuid.Parse(eventID)
	if err != nil {
		return ledger.Proof{}, domain.E(domain.KindInvalid, op, "the event id is not a UUID")
	}
	// The leaf and the newest checkpoint covering it, in one round trip.
	b := &pgx.Batch{}
	b.Queue(`SELECT idx, stream, revision, event_type, created, data_sha256, meta_sha256, leaf_hash
		FROM ledger_leaves WHERE event_id = $1`, id)
	b.Queue(`SELECT `+checkpointCols+` FROM ledger_checkpoints
		WHERE size > (SELECT idx FROM ledger_leaves WHERE event_id = $1) ORDER BY size DESC LIMIT 1`, id)
	br := r.pool.SendBatch(ctx, b)
	defer br.Close()
	var p ledger.Proof
	var idx, rev, created int64
	var dataHash, metaHash, leafHash []byte
	err = br.QueryRow().Scan(&idx, &p.Leaf.Stream, &rev, &p.Leaf.Type, &created, &dataHash, &metaHash, &leafHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Proof{}, domain.E(domain.KindNotFound, op, "the ledger has no such event (yet)")
	}
	if err != nil {
		return ledger.Proof{}, domain.Wrap(domain.KindUnavailable, op, err, "reading the ledger")
	}
	p.Index, p.Leaf.EventID, p.Leaf.Revision, p.Leaf.CreatedTicks = uint64(idx), id.String(), uint64(rev), created
	copy(p.Leaf.DataHash[:], dataHash)
	copy(p.Leaf.MetadataHash[:], metaHash)
	if string(p.Leaf.Hash()) != string(leafHash) {
		return ledger.Proof{}, domain.Errorf(domain.KindInternal, op, "the ledger's record of leaf %d is inconsistent", idx)
	}
	cp, err := scanCheckpoint(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Proof{}, domain.E(domain.KindNotFound, op, "no signed checkpoint covers the event yet")
	}
	if err != nil {
		return ledger.Proof{}, domain.Wrap(domain.KindUnavailable, op, err, "reading the ledger")
	}
	if err := br.Close(); err != nil {
		return ledger.Proof{}, domain.Wrap(domain.KindUnavailable, op, err, "reading the ledger")
	}
	p.Checkpoint = []byte(cp.Note)
	if p.Hashes, err = ledger.InclusionProof(p.Index, cp.Size, r.nodes(ctx)); err != nil {
		return ledger.Proof{}, domain.Wrap(domain.KindInternal, op, err, "building the proof")
	}
	return p, nil
}

// nodes reads node hashes from ledger_leaves: a node of level l and index j is stored with
// the leaf that completed it, (j+1)*2^l - 1, at offset (l-1)*32 of its nodes (level 0: the
// leaf hash).
func (r *Reader) nodes(ctx context.Context) ledger.NodeReader {
	return func(ids []compact.NodeID) ([][]byte, error) {
		idxs := make([]int64, len(ids))
		for i, id := range ids {
			idxs[i] = int64((id.Index+1)<<id.Level - 1)
		}
		rows, err := r.pool.Query(ctx, `SELECT idx, leaf_hash, nodes FROM ledger_leaves WHERE idx = ANY($1)`, idxs)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		type stored struct{ leaf, nodes []byte }
		got := map[int64]stored{}
		for rows.Next() {
			var idx int64
			var s stored
			if err := rows.Scan(&idx, &s.leaf, &s.nodes); err != nil {
				return nil, err
			}
			got[idx] = s
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out := make([][]byte, len(ids))
		for i, id := range ids {
			s, ok := got[idxs[i]]
			switch {
			case ok && id.Level == 0:
				out[i] = s.leaf
			case ok && len(s.nodes) >= int(id.Level)*32:
				out[i] = s.nodes[(id.Level-1)*32 : id.Level*32]
			default:
				return nil, fmt.Errorf("node %d/%d is missing from the ledger", id.Level, id.Index)
			}
		}
		return out, nil
	}
}

// References returns the ledger's per-leaf records from leaf 0, for ledger.Options.
func (r *Reader) References() ledger.RefIterator { return &refIterator{pool: r.pool} }

type refIterator struct {
	pool *pgxpool.Pool
	page []ledger.RefLeaf
	next int64
	done bool
}

const refCols = `idx, event_id, stream, revision, position, data_sha256, meta_sha256, leaf_hash`

func scanRef(row pgx.Row) (ledger.RefLeaf, error) {
	var l ledger.RefLeaf
	var idx, rev, pos int64
	var id uuid.UUID
	if err := row.Scan(&idx, &id, &l.Stream, &rev, &pos, &l.DataHash, &l.MetadataHash, &l.LeafHash); err != nil {
		return l, err
	}
	l.Index, l.EventID, l.Revision, l.Position = uint64(idx), id.String(), uint64(rev), uint64(pos)
	return l, nil
}

// Lookup implements ledger.RefIterator.
func (it *refIterator) Lookup(ctx context.Context, eventID string) (ledger.RefLeaf, bool, error) {
	id, err := uuid.Parse(eventID)
	if err != nil {
		return ledger.RefLeaf{}, false, nil
	}
	l, err := scanRef(it.pool.QueryRow(ctx, `SELECT `+refCols+` FROM ledger_leaves WHERE event_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.RefLeaf{}, false, nil
	}
	return l, err == nil, err
}

// Next implements ledger.RefIterator, reading 4,096 records at a time.
func (it *refIterator) Next(ctx context.Context) (ledger.RefLeaf, bool, error) {
	if len(it.page) == 0 && !it.done {
		rows, err := it.pool.Query(ctx, `SELECT `+refCols+` FROM ledger_leaves WHERE idx >= $1 ORDER BY idx LIMIT 4096`, it.next)
		if err != nil {
			return ledger.RefLeaf{}, false, err
		}
		for rows.Next() {
			l, err := scanRef(rows)
			if err != nil {
				rows.Close()
				return ledger.RefLeaf{}, false, err
			}
			it.page = append(it.page, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ledger.RefLeaf{}, false, err
		}
		if len(it.page) < 4096 {
			it.done = true
		}
		if len(it.page) > 0 {
			it.next = int64(it.page[len(it.page)-1].Index) + 1
		}
	}
	if len(it.page) == 0 {
		return ledger.RefLeaf{}, false, nil
	}
	l := it.page[0]
	it.page = it.page[1:]
	return l, true, nil
}

// CheckpointCovering returns the signed note of the smallest checkpoint whose tree holds
// every event up to log position position ("" when none covers them yet), for the
// completeness footer of audit exports (readmodels.CheckpointSource).
func (r *Reader) CheckpointCovering(ctx context.Context, position uint64) (string, error) {
	var n string
	err := r.pool.QueryRow(ctx, `SELECT note FROM ledger_checkpoints
		WHERE size > (SELECT COALESCE(MAX(idx), -1) FROM ledger_leaves WHERE position <= $1)
		ORDER BY size LIMIT 1`, int64(position)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", domain.Wrap(domain.KindUnavailable, "ledger.checkpoint_covering", err, "reading the ledger")
	}
	return n, nil
}
