package domain

import "time"

// StreamPrefixRetention prefixes the retention log of one bucket owner (an assistant for
// retention buckets, an organisation for model-log buckets): "retention-<ownerID>".
const StreamPrefixRetention = "retention-"

// Retention is the retention log of one bucket owner: which of its retention or model-log
// buckets have been destroyed because their retention period ended. It exists so that every
// destruction done by retention is itself an audited event.
type Retention struct {
	root
	destroyed map[string]bool
}

// RetentionBucketDestroyed records that the key of a retention or model-log bucket was
// destroyed because the owner's retention period ended: everything sealed under it is
// unreadable from now on.
type RetentionBucketDestroyed struct {
	OrganizationID string      `json:"organizationId"`
	OwnerID        string      `json:"ownerId"`
	BucketKind     SubjectKind `json:"bucketKind"`
	// Bucket is the bucket's canonical subject, "retention:<assistant>/<day>" or
	// "modellog:<organisation>/<day>" or "auditlog:<organisation>/<day>".
	Bucket string `json:"bucket"`
	// Day is the UTC day the bucket holds, YYYY-MM-DD.
	Day string `json:"day"`
	// RetentionDays is the retention period that was applied.
	RetentionDays int       `json:"retentionDays"`
	DestroyedBy   string    `json:"destroyedBy"`
	DestroyedAt   time.Time `json:"destroyedAt"`
}

// EventName implements Event.
func (RetentionBucketDestroyed) EventName() string { return "retention.bucket_destroyed.v1" }

// NewRetention returns the retention log of the bucket owner ownerID (an assistant or an
// organisation id).
func NewRetention(ownerID string) *Retention {
	return &Retention{root: newRoot(StreamPrefixRetention, ownerID), destroyed: map[string]bool{}}
}

// DestroyBucket records that bucket, one of the owner's retention or model-log buckets of
// organisation org, was destroyed after retentionDays days. A bucket already recorded
// records nothing, so a retried sweep appends no duplicate.
func (r *Retention) DestroyBucket(org string, bucket Subject, retentionDays int, by string, now time.Time) error {
	const op = "retention.destroy_bucket"
	if err := ValidateID("retention owner id", r.id); err != nil {
		return err
	}
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	if r.created() && r.org != org {
		return E(KindInvalid, op, "the retention log belongs to another organisation")
	}
	if bucket.Kind != SubjectRetention && bucket.Kind != SubjectModelLog && bucket.Kind != SubjectAuditLog {
		return E(KindInvalid, op, "only retention, model-log and audit-log buckets expire by retention")
	}
	if err := bucket.Validate(); err != nil {
		return err
	}
	owner, day := bucket.ID[:36], bucket.ID[37:]
	if owner != r.id {
		return E(KindInvalid, op, "the bucket belongs to another owner")
	}
	if retentionDays < MinRetentionDays || retentionDays > MaxRetentionDays {
		return Errorf(KindInvalid, op, "retention must be %d to %d days", MinRetentionDays, MaxRetentionDays)
	}
	if r.destroyed[bucket.String()] {
		return nil
	}
	record(r, RetentionBucketDestroyed{OrganizationID: org, OwnerID: r.id, BucketKind: bucket.Kind,
		Bucket: bucket.String(), Day: day, RetentionDays: retentionDays, DestroyedBy: by, DestroyedAt: now.UTC()})
	return nil
}

// Destroyed reports whether the destruction of bucket has been recorded.
func (r *Retention) Destroyed(bucket Subject) bool { return r.destroyed[bucket.String()] }

func (r *Retention) apply(e Event) {
	if e, ok := e.(RetentionBucketDestroyed); ok {
		r.org = e.OrganizationID
		r.destroyed[e.Bucket] = true
	}
}
