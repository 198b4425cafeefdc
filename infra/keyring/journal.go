package keyring

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/domain"
)

// Destruction is one destroyed key, as the keyring reports it to its ShredJournal: never key
// material.
type Destruction struct {
	// Subject is the subject's canonical form (domain.Subject.String).
	Subject string
	// DestroyedAt is the time recorded in the subject's tombstone.
	DestroyedAt time.Time
	// Reason is the shredding reason given to StartShredding (e.g. "erasure <id>",
	// "retention").
	Reason string
}

// ShredJournal durably records key destructions apart from the key store and its backups
// (package shredjournal implements it), so that restoring an older backup can destroy again
// what was destroyed since. RecordDestruction must be durable (fsynced) when it returns nil.
type ShredJournal interface {
	RecordDestruction(ctx context.Context, d Destruction) error
}

// WithShredJournal makes every destruction (Destroy, DestroyDue, DestroyAll, and StartShredding
// with zero grace) write its entry to j before the destruction commits; when j fails, the
// destruction does not happen and the error is returned. `arkiv serve` always sets it.
func WithShredJournal(j ShredJournal) Option { return func(k *Keyring) { k.journal = j } }

func (k *Keyring) journalDestruction(ctx context.Context, subject string, at time.Time, reason string) error {
	if k.journal == nil {
		return nil
	}
	if err := k.journal.RecordDestruction(ctx, Destruction{Subject: subject, DestroyedAt: at, Reason: reason}); err != nil {
		return domain.Wrap(domain.KindUnavailable, "keyring.destroy", err, "cannot write the shred journal: the key is not destroyed")
	}
	return nil
}

// Redestroy destroys each subject's key again after a restore, whatever its state in the
// restored key store: an active or shredding key is deleted and tombstoned, a subject the key
// store never saw gets a tombstone (so no key can be created for it), one already destroyed
// is left alone. Nothing is written to the journal (the destructions are already in it). It
// purges the key table once at the end and returns the subjects it destroyed or tombstoned. `arkiv backup restore` runs it with the shred journal's entries.
func (k *Keyring) Redestroy(ctx context.Context, ds []Destruction) ([]string, error) {
	const op = "keyring.redestroy"
	var n []string
	for _, d := range ds {
		s, err := domain.ParseSubject(d.Subject)
		if err != nil {
			return n, domain.Wrap(domain.KindInvalid, op, err, "the journal names a malformed subject")
		}
		subject := s.String()
		lock := &k.locks[k.stripeOf(subject)]
		lock.Lock()
		k.cache.evict(subject)
		changed := false
		err = pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, subject); err != nil {
				return err
			}
			var createdAt time.Time
			var reqAt, destroyAfter *time.Time
			var requester *string
			err := tx.QueryRow(ctx, `SELECT created_at, shred_requested_at, destroy_after, shred_requester
				FROM keyring_keys WHERE subject = $1 FOR UPDATE`, subject).Scan(&createdAt, &reqAt, &destroyAfter, &requester)
			if errors.Is(err, pgx.ErrNoRows) {
				createdAt = d.DestroyedAt
			} else if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `
				INSERT INTO keyring_tombstones (subject, key_created_at, shred_requested_at, destroy_after,
					destroyed_at, reason, requester, delete_xid)
				VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, ''), pg_current_xact_id())
				ON CONFLICT (subject) DO NOTHING`,
				subject, createdAt, reqAt, destroyAfter, d.DestroyedAt.UTC(), d.Reason, requester)
			if err != nil {
				return err
			}
			del, err := tx.Exec(ctx, `DELETE FROM keyring_keys WHERE subject = $1`, subject)
			if err != nil {
				return err
			}
			changed = tag.RowsAffected() > 0 || del.RowsAffected() > 0
			return nil
		})
		lock.Unlock()
		if err != nil {
			return n, domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		if changed {
			n = append(n, subject)
		}
	}
	if len(n) == 0 {
		return nil, nil
	}
	return n, k.purge(ctx)
}
