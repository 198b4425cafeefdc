package keyring

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// KEKVersion is the key store's record of one key-encryption-key version: when a keyring
// first used it and, for versions reached by `arkiv keys rotate-kek`, when the re-wrap of
// every live key under it started and finished.
type KEKVersion struct {
	Version             uint32
	InUseSince          time.Time
	RotationStartedAt   *time.Time
	RotationCompletedAt *time.Time
	KeysRewrapped       int64
}

// noteKEKInUse records that the KEK source's current version is in use from now on, unless
// the key store already knows it.
func (k *Keyring) noteKEKInUse(ctx context.Context, version uint32) error {
	_, err := k.pool.Exec(ctx, `INSERT INTO keyring_kek_versions (version, in_use_since) VALUES ($1, $2)
		ON CONFLICT (version) DO NOTHING`, int64(version), k.clock.Now().UTC())
	return err
}

// noteRotation records the start or the completion of the re-wrap of every live key under
// version (each batch counts its keys in its own transaction).
func (k *Keyring) noteRotation(ctx context.Context, version uint32, start bool) error {
	now := k.clock.Now().UTC()
	if start {
		_, err := k.pool.Exec(ctx, `INSERT INTO keyring_kek_versions (version, in_use_since, rotation_started_at)
			VALUES ($1, $2, $2)
			ON CONFLICT (version) DO UPDATE SET rotation_started_at = coalesce(keyring_kek_versions.rotation_started_at, $2)`,
			int64(version), now)
		return err
	}
	_, err := k.pool.Exec(ctx, `UPDATE keyring_kek_versions SET rotation_completed_at = $2 WHERE version = $1`,
		int64(version), now)
	return err
}

// KEKHistory returns every KEK version the key store has used, oldest first.
func (k *Keyring) KEKHistory(ctx context.Context) ([]KEKVersion, error) {
	const op = "keyring.kek_history"
	rows, err := k.pool.Query(ctx, `SELECT version, in_use_since, rotation_started_at, rotation_completed_at, keys_rewrapped
		FROM keyring_kek_versions ORDER BY version`)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	defer rows.Close()
	var out []KEKVersion
	for rows.Next() {
		var v KEKVersion
		var ver int64
		if err := rows.Scan(&ver, &v.InUseSince, &v.RotationStartedAt, &v.RotationCompletedAt, &v.KeysRewrapped); err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		v.Version = uint32(ver)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return out, nil
}
