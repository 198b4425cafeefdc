package keyring

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/domain"
)

// rotateBatch is how many DEKs RotateKEK re-wraps per transaction.
const rotateBatch = 200

// RotateKEK re-wraps every live DEK (active or shredding) that is not wrapped under the KEK
// source's current version. It first raises the key store's minimum KEK version, so no
// keyring can create a key under a retiring version afterwards, then works in batches, each
// committed on its own: after an interruption (ctx cancelled, crash) running it again
// resumes where it stopped. progress, when not nil, is called after each batch with the keys
// re-wrapped so far in this run and the number that needed it when the run began.
func (k *Keyring) RotateKEK(ctx context.Context, progress func(done, total int)) error {
	const op = "keyring.rotate_kek"
	cur, err := k.kek.CurrentVersion(ctx)
	if err != nil {
		return err
	}
	// The row lock waits for key creations in flight (they hold FOR SHARE on this row).
	if _, err := k.pool.Exec(ctx, `UPDATE keyring_meta SET min_kek_version = greatest(min_kek_version, $1) WHERE id = 1`, int64(cur)); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	if err := k.noteRotation(ctx, cur, true); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	total, err := k.PendingRotation(ctx)
	if err != nil {
		return err
	}
	if progress != nil {
		progress(0, total)
	}
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "rotation interrupted; run it again to resume")
		}
		n, err := k.rotateBatch(ctx, cur)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		done += n
		total = max(total, done) // keys created under an old version meanwhile
		if progress != nil {
			progress(done, total)
		}
	}
	if err := k.noteRotation(ctx, cur, false); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	// Reclaim the dead row versions that held the old wrapped keys.
	if _, err := k.pool.Exec(ctx, `VACUUM keyring_keys`); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot vacuum the key table")
	}
	return nil
}

func (k *Keyring) rotateBatch(ctx context.Context, cur uint32) (int, error) {
	const op = "keyring.rotate_kek"
	n := 0
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT subject, dek_version, kek_version, wrapped FROM keyring_keys
			WHERE kek_version <> $1 ORDER BY subject LIMIT $2 FOR UPDATE SKIP LOCKED`, int64(cur), rotateBatch)
		if err != nil {
			return err
		}
		type row struct {
			subject        string
			dekVer, kekVer int64
			wrapped        []byte
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.subject, &r.dekVer, &r.kekVer, &r.wrapped); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			ad := dekAD(r.subject, uint32(r.dekVer))
			dek, err := k.kek.Unwrap(ctx, uint32(r.kekVer), r.wrapped, ad)
			if err != nil {
				return err
			}
			ver, wrapped, err := k.kek.Wrap(ctx, dek, ad)
			clear(dek)
			if err != nil {
				return err
			}
			if ver != cur {
				return domain.E(domain.KindConflict, op, "the KEK's current version changed during rotation; run it again")
			}
			if _, err := tx.Exec(ctx, `UPDATE keyring_keys SET kek_version = $2, wrapped = $3 WHERE subject = $1`,
				r.subject, int64(ver), wrapped); err != nil {
				return err
			}
		}
		n = len(batch)
		if n > 0 {
			if _, err := tx.Exec(ctx, `UPDATE keyring_kek_versions SET keys_rewrapped = keys_rewrapped + $2 WHERE version = $1`,
				int64(cur), int64(n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if domain.KindOf(err) != domain.KindInternal {
			return 0, err
		}
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return n, nil
}

// PendingRotation returns how many live DEKs are not wrapped under the KEK source's current
// version. Zero means every older KEK version may be deleted.
func (k *Keyring) PendingRotation(ctx context.Context) (int, error) {
	const op = "keyring.pending_rotation"
	cur, err := k.kek.CurrentVersion(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	if err := k.pool.QueryRow(ctx, `SELECT count(*) FROM keyring_keys WHERE kek_version <> $1`, int64(cur)).Scan(&n); err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return n, nil
}
