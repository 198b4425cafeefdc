package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RecordRetentionDestruction records, in the retention log of one bucket owner (an
// assistant, or an organisation for its model-log buckets), that the keys of the given
// buckets were destroyed because their retention period ended. Only the system actor runs
// it: the retention process manager, right after destroying the keys. Buckets already
// recorded are skipped, so a retried sweep records each destruction once.
type RecordRetentionDestruction struct {
	Meta
	OrganizationID string
	// OwnerID is the assistant (retention buckets) or organisation (model-log buckets)
	// whose buckets were destroyed.
	OwnerID string
	Buckets []DestroyedBucket
}

// DestroyedBucket is one destroyed bucket and the retention period that expired it.
type DestroyedBucket struct {
	Bucket        domain.Subject
	RetentionDays int
}

// recordRetentionDestruction runs RecordRetentionDestruction; Result.ID is the owner's id.
func (x *executor) recordRetentionDestruction(ctx context.Context, c RecordRetentionDestruction) (Result, error) {
	const op = string(domain.CmdRecordRetentionDestruction)
	if err := domain.ValidateID("retention owner id", c.OwnerID); err != nil {
		return Result{}, err
	}
	if err := domain.ValidateID("organisation id", c.OrganizationID); err != nil {
		return Result{}, err
	}
	if len(c.Buckets) == 0 || len(c.Buckets) > 1000 {
		return Result{}, domain.E(domain.KindInvalid, op, "1 to 1000 buckets per command")
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRecordRetentionDestruction,
		target: func(act actor) domain.Aggregate { return domain.NewRetention(c.OwnerID) },
		create: true,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			r := t.(*domain.Retention)
			now := x.d.Clock.Now()
			for _, b := range c.Buckets {
				if err := r.DestroyBucket(c.OrganizationID, b.Bucket, b.RetentionDays, act.id, now); err != nil {
					return err
				}
			}
			return nil
		},
	})
}
