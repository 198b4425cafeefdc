package ledger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/ledger"
)

// Tables are the tables the projection owns.
func Tables() []string {
	return []string{"ledger_leaves", "ledger_tree", "ledger_checkpoints"}
}

// treeState is the ledger_tree row.
type treeState struct {
	size, contentSize uint64
	root              []byte
	border            [][]byte
}

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const treeQuery = `SELECT size, content_size, root, border FROM ledger_tree WHERE id = 1`

func loadTree(ctx context.Context, q queryer) (treeState, error) {
	return scanTree(q.QueryRow(ctx, treeQuery))
}

func scanTree(row pgx.Row) (treeState, error) {
	var st treeState
	var size, content int64
	var border []byte
	err := row.Scan(&size, &content, &st.root, &border)
	if errors.Is(err, pgx.ErrNoRows) {
		return treeState{root: ledger.EmptyRoot()}, nil
	}
	if err != nil {
		return st, err
	}
	if len(border)%32 != 0 {
		return st, fmt.Errorf("ledger_tree: border of %d bytes", len(border))
	}
	st.size, st.contentSize = uint64(size), uint64(content)
	for i := 0; i < len(border); i += 32 {
		st.border = append(st.border, border[i:i+32])
	}
	return st, nil
}

// appendLeaves appends events as the next leaves. With skipKnown, events whose id is
// already a leaf are skipped (idempotence of Apply).
func appendLeaves(ctx context.Context, tx pgx.Tx, es []ledger.Entry, skipKnown bool) error {
	if skipKnown {
		kept := es[:0:0]
		for _, e := range es {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM ledger_leaves WHERE event_id = $1`, e.EventID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				kept = append(kept, e)
			} else if err != nil {
				return err
			}
		}
		if es = kept; len(es) == 0 {
			return nil
		}
	}
	// The tables are derived from the log and commit with their checkpoint: a commit lost
	// in a crash is replayed, so this transaction need not wait for the WAL flush. The
	// setting and the tree's state travel in one round trip.
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit TO OFF`)
	b.Queue(treeQuery)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	st, err := scanTree(br.QueryRow())
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	tree, err := ledger.RestoreTree(st.size, st.border)
	if err != nil {
		return fmt.Errorf("ledger_tree: %w", err)
	}
	leaves := make([][]any, 0, len(es))
	var nodes []byte
	visit := func(level uint, index uint64, h []byte) {
		if level > 0 {
			nodes = append(nodes, h...)
		}
	}
	var cps [][]any
	for _, e := range es {
		idx := tree.Size()
		l := ledger.LeafOf(e)
		h := l.Hash()
		nodes = []byte{} // a new slice per leaf; empty, not NULL, when it completes no node
		tree.Append(h, visit)
		leaves = append(leaves, []any{int64(idx), e.EventID, e.Stream, int64(e.Revision), e.Type, l.CreatedTicks, int64(e.Position),
			l.DataHash[:], l.MetadataHash[:], h, nodes})
		if e.Stream == ledger.DefaultStream {
			if e.Type == ledger.CheckpointType {
				if row := checkpointRow(e); row != nil {
					cps = append(cps, row)
				}
			}
		} else {
			st.contentSize = tree.Size()
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_leaves"},
		[]string{"idx", "event_id", "stream", "revision", "event_type", "created", "position", "data_sha256", "meta_sha256", "leaf_hash", "nodes"},
		pgx.CopyFromRows(leaves)); err != nil {
		return err
	}
	for _, row := range cps {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_checkpoints (size, root, note, key_hash, event_id, position, signed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (size) DO NOTHING`, row...); err != nil {
			return err
		}
	}
	var border []byte
	for _, h := range tree.Border() {
		border = append(border, h...)
	}
	_, err = tx.Exec(ctx, `INSERT INTO ledger_tree (id, size, content_size, root, border) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, content_size = EXCLUDED.content_size,
			root = EXCLUDED.root, border = EXCLUDED.border`,
		int64(tree.Size()), int64(st.contentSize), tree.Root(), border)
	return err
}

// checkpointRow returns the ledger_checkpoints row of a checkpoint event, nil when its note
// does not parse (verification reports such events; the projection only records).
func checkpointRow(e ledger.Entry) []any {
	var d ledger.CheckpointData
	if json.Unmarshal(e.Data, &d) != nil {
		return nil
	}
	body, _, ok := strings.Cut(d.Note, "\n\n")
	if !ok {
		return nil
	}
	cp, err := ledger.ParseCheckpoint([]byte(body + "\n"))
	if err != nil {
		return nil
	}
	return []any{int64(cp.Size), cp.Root, d.Note, d.KeyHash, e.EventID, int64(e.Position), e.Created}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
