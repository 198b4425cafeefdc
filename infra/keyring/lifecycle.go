package keyring

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/domain"
)

// Status is where a subject is in its lifecycle: active → shredding → destroyed.
type Status string

// The statuses of a subject.
const (
	// StatusUnknown: the key store has never seen the subject.
	StatusUnknown Status = "unknown"
	// StatusActive: the subject's key seals and opens.
	StatusActive Status = "active"
	// StatusShredding: hidden (opening fails as erased) and restorable until DestroyAfter.
	StatusShredding Status = "shredding"
	// StatusDestroyed: the key material is gone; only a tombstone remains.
	StatusDestroyed Status = "destroyed"
)

// State describes a subject's lifecycle. Times are zero when they do not apply. It never
// contains key material.
type State struct {
	Status           Status
	KeyCreatedAt     time.Time
	ShredRequestedAt time.Time
	DestroyAfter     time.Time
	DestroyedAt      time.Time
	// PurgedAt is when the destroyed key's table was vacuumed; zero while that is pending.
	PurgedAt  time.Time
	Reason    string
	Requester string
}

// ErrRestoreWindowClosed is returned by Restore once the subject's grace window has ended or
// its key has been destroyed. Its kind is domain.KindConflict.
var ErrRestoreWindowClosed = domain.E(domain.KindConflict, "keyring.restore",
	"the restore window has closed: the subject's key is destroyed or due for destruction")

// StartShredding hides subject at once: when it returns, no seal or open in this process
// that depends on the subject succeeds any more (operations already under way have finished),
// and every other keyring on the key store has been told by NOTIFY to drop the key. The key
// stays restorable for grace (0..MaxGrace); with grace 0 it is destroyed before returning.
// Shredding a subject that has no key yet creates its key in the shredding state, so nothing
// can be sealed for it during the window. It is idempotent: a subject already shredding keeps
// its original window, a destroyed one stays destroyed.
func (k *Keyring) StartShredding(ctx context.Context, s domain.Subject, reason, requester string, grace time.Duration) error {
	const op = "keyring.start_shredding"
	if err := s.Validate(); err != nil {
		return err
	}
	if grace < 0 || grace > MaxGrace {
		return domain.Errorf(domain.KindInvalid, op, "grace must be between 0 and %d days", int(MaxGrace/(24*time.Hour)))
	}
	subject := s.String()
	now := k.clock.Now().UTC()
	si := &shredInfo{requestedAt: now, destroyAfter: now.Add(grace), reason: reason, requester: requester}
	lock := &k.locks[k.stripeOf(subject)]
	lock.Lock()
	err := k.markShredding(ctx, subject, si)
	k.cache.evict(subject)
	lock.Unlock()
	if err != nil {
		return err
	}
	if grace == 0 {
		return k.Destroy(ctx, s)
	}
	return nil
}

func (k *Keyring) markShredding(ctx context.Context, subject string, si *shredInfo) error {
	const op = "keyring.start_shredding"
	for attempt := 0; attempt < 2; attempt++ {
		missing := false
		err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, subject); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `
				UPDATE keyring_keys SET state = 'shredding', shred_requested_at = $2, destroy_after = $3,
					shred_reason = $4, shred_requester = $5
				WHERE subject = $1 AND state = 'active'`,
				subject, si.requestedAt, si.destroyAfter, si.reason, si.requester)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var exists bool
				err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyring_keys WHERE subject = $1)
					OR EXISTS (SELECT 1 FROM keyring_tombstones WHERE subject = $1)`, subject).Scan(&exists)
				if err != nil {
					return err
				}
				missing = !exists
			}
			// Delivered at commit to every listening keyring, this one included.
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, subject)
			return err
		})
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		if !missing {
			return nil
		}
		var dek [dekSize]byte
		if _, err := rand.Read(dek[:]); err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "no randomness")
		}
		err = k.insertKey(ctx, subject, dek[:], "shredding", si)
		clear(dek[:])
		if err != nil {
			return err
		}
		// Loop once more: the row now exists (ours, or a concurrent creator's to mark).
	}
	return nil
}

// SetDestroyAfter moves the end of a shredding subject's window to destroyAfter: a legal
// hold placed during an erasure's grace window pushes it far out, so that DestroyDue leaves
// the key alone; lifting the hold brings it back. Subjects not shredding are left as they are.
func (k *Keyring) SetDestroyAfter(ctx context.Context, s domain.Subject, destroyAfter time.Time) error {
	const op = "keyring.set_destroy_after"
	if err := s.Validate(); err != nil {
		return err
	}
	if _, err := k.pool.Exec(ctx, `UPDATE keyring_keys SET destroy_after = $2 WHERE subject = $1 AND state = 'shredding'`,
		s.String(), destroyAfter.UTC()); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return nil
}

// Restore brings a shredding subject back exactly as it was (the same key, so everything
// sealed under it opens again) while its grace window lasts. After the window, or once the
// key is destroyed, it returns ErrRestoreWindowClosed. Restoring an active subject does nothing.
func (k *Keyring) Restore(ctx context.Context, s domain.Subject) error {
	const op = "keyring.restore"
	if err := s.Validate(); err != nil {
		return err
	}
	subject := s.String()
	now := k.clock.Now().UTC()
	lock := &k.locks[k.stripeOf(subject)]
	lock.Lock()
	defer lock.Unlock()
	var result error
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, subject); err != nil {
			return err
		}
		var state string
		var destroyAfter *time.Time
		err := tx.QueryRow(ctx, `SELECT state, destroy_after FROM keyring_keys WHERE subject = $1 FOR UPDATE`, subject).
			Scan(&state, &destroyAfter)
		if errors.Is(err, pgx.ErrNoRows) {
			var gone bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyring_tombstones WHERE subject = $1)`, subject).Scan(&gone); err != nil {
				return err
			}
			if gone {
				result = ErrRestoreWindowClosed
			} else {
				result = domain.E(domain.KindNotFound, op, "the key store has no such subject")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case state == "active":
			return nil
		case destroyAfter == nil || !now.Before(*destroyAfter):
			result = ErrRestoreWindowClosed
			return nil
		}
		_, err = tx.Exec(ctx, `
			UPDATE keyring_keys SET state = 'active', shred_requested_at = NULL, destroy_after = NULL,
				shred_reason = NULL, shred_requester = NULL
			WHERE subject = $1`, subject)
		return err
	})
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return result
}

// Destroy destroys a shredding subject's key now, whatever is left of its window: it records
// a tombstone and deletes the key row in one transaction, then vacuums the key table and
// records completion. It is idempotent, and DestroyDue finishes a destruction that a crash
// interrupted. An active subject is refused (KindConflict): StartShredding comes first.
func (k *Keyring) Destroy(ctx context.Context, s domain.Subject) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if _, err := k.destroyOne(ctx, s.String(), time.Time{}); err != nil {
		return err
	}
	return k.purge(ctx)
}

// DestroyDue destroys every shredding subject whose window has ended, then finishes any
// destruction whose vacuum had not completed. It returns how many keys it destroyed. Run it
// periodically (the retention process manager does).
func (k *Keyring) DestroyDue(ctx context.Context) (int, error) {
	const op = "keyring.destroy_due"
	n := 0
	for {
		rows, err := k.pool.Query(ctx, `
			SELECT subject FROM keyring_keys WHERE state = 'shredding' AND destroy_after <= $1
			ORDER BY destroy_after LIMIT 500`, k.clock.Now().UTC())
		if err != nil {
			return n, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		subjects, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return n, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		if len(subjects) == 0 {
			break
		}
		for _, s := range subjects {
			done, err := k.destroyOne(ctx, s, k.clock.Now().UTC())
			if err != nil {
				return n, err
			}
			if done {
				n++
			}
		}
	}
	return n, k.purge(ctx)
}

// destroyOne deletes subject's key and writes its tombstone atomically. With dueBy set, only a
// subject whose window ended by then is destroyed. It reports whether it destroyed a key.
func (k *Keyring) destroyOne(ctx context.Context, subject string, dueBy time.Time) (bool, error) {
	const op = "keyring.destroy"
	lock := &k.locks[k.stripeOf(subject)]
	lock.Lock()
	defer lock.Unlock()
	k.cache.evict(subject)
	var result, journalErr error
	destroyed := false
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, subject); err != nil {
			return err
		}
		var state string
		var createdAt time.Time
		var reqAt, destroyAfter *time.Time
		var reason, requester *string
		err := tx.QueryRow(ctx, `
			SELECT state, created_at, shred_requested_at, destroy_after, shred_reason, shred_requester
			FROM keyring_keys WHERE subject = $1 FOR UPDATE`, subject).
			Scan(&state, &createdAt, &reqAt, &destroyAfter, &reason, &requester)
		if errors.Is(err, pgx.ErrNoRows) {
			var gone bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyring_tombstones WHERE subject = $1)`, subject).Scan(&gone); err != nil {
				return err
			}
			if !gone {
				result = domain.E(domain.KindNotFound, op, "the key store has no such subject")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if state != "shredding" {
			result = domain.E(domain.KindConflict, op, "the subject is active: start shredding it first")
			return nil
		}
		if !dueBy.IsZero() && (destroyAfter == nil || destroyAfter.After(dueBy)) {
			return nil
		}
		at := k.clock.Now().UTC()
		if _, err := tx.Exec(ctx, `
			INSERT INTO keyring_tombstones (subject, key_created_at, shred_requested_at, destroy_after,
				destroyed_at, reason, requester, delete_xid)
			VALUES ($1, $2, $3, $4, $5, coalesce($6, ''), coalesce($7, ''), pg_current_xact_id())
			ON CONFLICT (subject) DO NOTHING`,
			subject, createdAt, reqAt, destroyAfter, at, reason, requester); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM keyring_keys WHERE subject = $1`, subject); err != nil {
			return err
		}
		// The journal line is durable before the destruction commits: a destruction that
		// is acknowledged is always in the journal (a journalled one that then fails to
		// commit is destroyed again by a restore, the safe side).
		if err := k.journalDestruction(ctx, subject, at, derefS(reason)); err != nil {
			journalErr = err
			return err
		}
		destroyed = true
		return nil
	})
	if journalErr != nil {
		return false, journalErr
	}
	if err != nil {
		return false, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	return destroyed, result
}

// purge rewrites the key table (VACUUM FULL) so that deleted rows' bytes leave its pages (a
// plain VACUUM only marks them free and leaves them in the page), then marks as purged every
// tombstone whose deleting transaction was older than every snapshot that could still see
// it. A transaction open anywhere on the server (any database) keeps such rows alive through
// the rewrite; those tombstones stay unpurged and the next DestroyDue tries again. The
// horizon is read from pg_stat_activity and pg_replication_slots (the key store's role needs
// pg_read_all_stats to see other roles' sessions) and from the current snapshot. The rewrite
// takes the table's exclusive lock briefly; if that is not granted within purgeLockTimeout it
// falls back to a plain VACUUM and, again, leaves the tombstones for the next sweep.
//
// Key material stored in Postgres is only ever the wrapped DEK; once the KEK versions that
// wrapped it are retired, copies left in WAL, backups or freed disk blocks are unreadable too.
func (k *Keyring) purge(ctx context.Context) error {
	const op = "keyring.purge"
	var pending bool
	if err := k.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyring_tombstones WHERE purged_at IS NULL)`).Scan(&pending); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	if !pending {
		return nil
	}
	conn, err := k.pool.Acquire(ctx)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	defer conn.Release()
	// The age of the oldest transaction or snapshot that may still see deleted rows.
	var horizonAge int64
	if err := conn.QueryRow(ctx, `
		SELECT coalesce(max(age(x)), 0) FROM (
			SELECT backend_xmin AS x FROM pg_stat_activity WHERE pid <> pg_backend_pid()
			UNION ALL SELECT backend_xid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
			UNION ALL SELECT xmin FROM pg_replication_slots
			UNION ALL SELECT catalog_xmin FROM pg_replication_slots
			UNION ALL SELECT pg_snapshot_xmin(pg_current_snapshot())::xid
		) h WHERE x IS NOT NULL`).Scan(&horizonAge); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	if _, err := conn.Exec(ctx, `SET lock_timeout = '`+purgeLockTimeout+`'`); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	_, fullErr := conn.Exec(ctx, `VACUUM FULL keyring_keys`)
	if _, err := conn.Exec(ctx, `RESET lock_timeout`); err != nil {
		conn.Conn().Close(ctx) // do not return a session with a changed setting to the pool
	}
	if fullErr != nil {
		k.log.Warn("keyring: VACUUM FULL of the key table did not run; the next DestroyDue retries", "err", fullErr)
		if _, err := k.pool.Exec(ctx, `VACUUM keyring_keys`); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "cannot vacuum the key table")
		}
		return nil
	}
	tag, err := k.pool.Exec(ctx, `UPDATE keyring_tombstones SET purged_at = $1
		WHERE purged_at IS NULL AND age(delete_xid::xid) > $2`, k.clock.Now().UTC(), horizonAge)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	var left int
	if err := k.pool.QueryRow(ctx, `SELECT count(*) FROM keyring_tombstones WHERE purged_at IS NULL`).Scan(&left); err == nil && left > 0 {
		k.log.Info("keyring: destroyed keys awaiting purge behind an older open transaction; the next DestroyDue retries",
			"purged", tag.RowsAffected(), "pending", left)
	}
	return nil
}

// purgeLockTimeout bounds how long purge waits for the key table's exclusive lock.
const purgeLockTimeout = "5s"

// State returns subject's lifecycle state.
func (k *Keyring) State(ctx context.Context, s domain.Subject) (State, error) {
	const op = "keyring.state"
	if err := s.Validate(); err != nil {
		return State{}, err
	}
	var st State
	var status string
	var reqAt, destroyAfter *time.Time
	var reason, requester *string
	err := k.pool.QueryRow(ctx, `
		SELECT state, created_at, shred_requested_at, destroy_after, shred_reason, shred_requester
		FROM keyring_keys WHERE subject = $1`, s.String()).
		Scan(&status, &st.KeyCreatedAt, &reqAt, &destroyAfter, &reason, &requester)
	if err == nil {
		st.Status = Status(status)
		st.ShredRequestedAt, st.DestroyAfter = deref(reqAt), deref(destroyAfter)
		st.Reason, st.Requester = derefS(reason), derefS(requester)
		return st, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return State{}, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	var purgedAt *time.Time
	err = k.pool.QueryRow(ctx, `
		SELECT key_created_at, shred_requested_at, destroy_after, destroyed_at, purged_at, reason, requester
		FROM keyring_tombstones WHERE subject = $1`, s.String()).
		Scan(&st.KeyCreatedAt, &reqAt, &destroyAfter, &st.DestroyedAt, &purgedAt, &st.Reason, &st.Requester)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{Status: StatusUnknown}, nil
	}
	if err != nil {
		return State{}, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
	}
	st.Status = StatusDestroyed
	st.ShredRequestedAt, st.DestroyAfter, st.PurgedAt = deref(reqAt), deref(destroyAfter), deref(purgedAt)
	return st, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func derefS(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
