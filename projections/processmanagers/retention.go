package processmanagers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// retentionManager keeps the retention settings of organisations and assistants and the
// buckets in use, and sweeps the buckets whose retention has ended.
//
// A retention bucket (an assistant's messages and replies of one UTC day) expires after the
// assistant's retention days, or the organisation's default message retention when the
// assistant has 0; a model-log bucket (an organisation's logged model payloads of one UTC
// day) after the organisation's audit-log retention, or its model-payload cap when shorter;
// an audit-log bucket (the sealed detail of an organisation's audit entries of one UTC day)
// after the audit-log retention. A bucket of day D is destroyed once
// D + days is before today (UTC): every message in it is then older than the retention.
type retentionManager struct {
	d   Deps
	log *slog.Logger
	// kicks asks the scheduler for a sweep now (retention settings changed).
	kicks chan struct{}
}

// kick asks for a sweep without waiting; one pending request is enough.
func (r *retentionManager) kick() {
	if r.kicks == nil {
		return
	}
	select {
	case r.kicks <- struct{}{}:
	default:
	}
}

// Name implements engine.Projection.
func (*retentionManager) Name() string { return RetentionName }

// Tables implements engine.Projection.
func (*retentionManager) Tables() []string {
	return []string{"pm_retention_orgs", "pm_retention_assistants", "pm_retention_buckets", "pm_retention_holds", "pm_retention_links"}
}

// Apply implements engine.Projection.
func (r *retentionManager) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	md := parseMetadata(ev)
	switch ev.Type {
	case domain.OrganizationCreated{}.EventName(), domain.OrganizationSettingsChanged{}.EventName():
		var o struct {
			OrganizationID string `json:"organizationId"`
			Settings       struct {
				DefaultMessageRetentionDays int `json:"defaultMessageRetentionDays"`
				AuditRetention              struct {
					Days int `json:"days"`
				} `json:"auditRetention"`
				ModelPayloadRetentionDays int `json:"modelPayloadRetentionDays"`
			} `json:"settings"`
		}
		if err := decode(ev, &o); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pm_retention_orgs (organization_id, message_retention_days, model_log_retention_days,
			model_payload_cap_days)
		VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id) DO UPDATE SET
			message_retention_days = EXCLUDED.message_retention_days, model_log_retention_days = EXCLUDED.model_log_retention_days,
			model_payload_cap_days = EXCLUDED.model_payload_cap_days`,
			o.OrganizationID, o.Settings.DefaultMessageRetentionDays, o.Settings.AuditRetention.Days,
			o.Settings.ModelPayloadRetentionDays); err != nil {
			return err
		}
		// A changed period applies to existing entries at once: sweep after this commits.
		r.kick()
	case domain.AssistantCreated{}.EventName(), domain.AssistantUpdated{}.EventName():
		var a struct {
			AssistantID    string `json:"assistantId"`
			OrganizationID string `json:"organizationId"`
			SpaceID        string `json:"spaceId"`
			RetentionDays  int    `json:"retentionDays"`
		}
		if err := decode(ev, &a); err != nil {
			return err
		}
		if a.OrganizationID == "" {
			a.OrganizationID = md.Organization
		}
		if a.SpaceID == "" {
			a.SpaceID = md.Space
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pm_retention_assistants (assistant_id, organization_id, retention_days, space_id)
		VALUES ($1, $2, $3, nullif($4, '')) ON CONFLICT (assistant_id) DO UPDATE SET retention_days = EXCLUDED.retention_days,
			space_id = coalesce(EXCLUDED.space_id, pm_retention_assistants.space_id)`,
			a.AssistantID, a.OrganizationID, a.RetentionDays, a.SpaceID); err != nil {
			return err
		}
	case domain.LegalHoldPlaced{}.EventName():
		var h struct {
			HoldID         string `json:"holdId"`
			OrganizationID string `json:"organizationId"`
			SubjectType    string `json:"subjectType"`
			SubjectID      string `json:"subjectId"`
		}
		if err := decode(ev, &h); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO pm_retention_holds (hold_id, organization_id, subject) VALUES ($1, $2, $3)
		ON CONFLICT (hold_id) DO NOTHING`, h.HoldID, h.OrganizationID, h.SubjectType+":"+strings.ToLower(h.SubjectID))
		return err
	case domain.LegalHoldLifted{}.EventName():
		var h struct {
			HoldID string `json:"holdId"`
		}
		if err := decode(ev, &h); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM pm_retention_holds WHERE hold_id = $1`, h.HoldID)
		return err
	case domain.RetentionBucketDestroyed{}.EventName():
		var b struct {
			OrganizationID string    `json:"organizationId"`
			Bucket         string    `json:"bucket"`
			DestroyedAt    time.Time `json:"destroyedAt"`
		}
		if err := decode(ev, &b); err != nil {
			return err
		}
		s, err := domain.ParseSubject(b.Bucket)
		if err != nil {
			return err
		}
		owner, day := splitBucket(s)
		if _, err := tx.Exec(ctx, `INSERT INTO pm_retention_buckets (subject, kind, owner_id, organization_id, day, destroyed_at)
		VALUES ($1, $2, $3, $4, $5::date, $6) ON CONFLICT (subject) DO UPDATE SET destroyed_at = EXCLUDED.destroyed_at`,
			b.Bucket, string(s.Kind), owner, b.OrganizationID, day, b.DestroyedAt); err != nil {
			return err
		}
		return nil
	}
	return r.indexBuckets(ctx, tx, md)
}

// indexBuckets records the retention and model-log buckets an event's fields are sealed
// under, and which conversations, users and documents each bucket holds data of (a legal
// hold on one of them keeps the bucket).
func (r *retentionManager) indexBuckets(ctx context.Context, tx pgx.Tx, md metadata) error {
	if domain.ValidateID("organisation id", md.Organization) != nil {
		return nil
	}
	var buckets, others []string
	for _, text := range md.Subjects {
		for _, k := range []domain.SubjectKind{domain.SubjectConversation, domain.SubjectUser, domain.SubjectDocument} {
			if strings.HasPrefix(text, string(k)+":") {
				others = append(others, text)
			}
		}
	}
	for _, text := range md.Subjects {
		if !strings.HasPrefix(text, string(domain.SubjectRetention)+":") && !strings.HasPrefix(text, string(domain.SubjectModelLog)+":") &&
			!strings.HasPrefix(text, string(domain.SubjectAuditLog)+":") {
			continue
		}
		s, err := domain.ParseSubject(text)
		if err != nil {
			continue
		}
		owner, day := splitBucket(s)
		if _, err := tx.Exec(ctx, `INSERT INTO pm_retention_buckets (subject, kind, owner_id, organization_id, day)
		VALUES ($1, $2, $3, $4, $5::date) ON CONFLICT (subject) DO NOTHING`, text, string(s.Kind), owner, md.Organization, day); err != nil {
			return err
		}
		if s.Kind == domain.SubjectRetention {
			buckets = append(buckets, text)
		}
	}
	if len(buckets) == 0 || len(others) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO pm_retention_links (bucket, subject)
	SELECT b, o FROM unnest($1::text[]) b, unnest($2::text[]) o ON CONFLICT DO NOTHING`, buckets, others)
	return err
}

// splitBucket returns the owner id and the day of a validated bucket subject.
func splitBucket(s domain.Subject) (owner, day string) { return s.ID[:36], s.ID[37:] }

// expired is one bucket whose retention has ended.
type expired struct {
	bucket     domain.Subject
	org, owner string
	days       int
}

// sweep destroys and records every bucket whose retention has ended, one owner at a time.
func (r *retentionManager) sweep(ctx context.Context) (int, error) {
	const op = "processmanagers.retention_sweep"
	today := r.d.Clock.Now().UTC().Format(time.DateOnly)
	rows, err := r.d.Pool.Query(ctx, `SELECT subject, organization_id, owner_id, days FROM (
		SELECT b.subject, b.organization_id, b.owner_id, b.day,
			CASE WHEN b.kind = 'retention'
				THEN coalesce(nullif(a.retention_days, 0), o.message_retention_days, $2)
				WHEN b.kind = 'modellog'
				THEN least(coalesce(o.model_log_retention_days, $3), coalesce(nullif(o.model_payload_cap_days, 0), 2147483647))
				ELSE coalesce(o.model_log_retention_days, $3) END AS days
		FROM pm_retention_buckets b
		LEFT JOIN pm_retention_assistants a ON b.kind = 'retention' AND a.assistant_id = b.owner_id
		LEFT JOIN pm_retention_orgs o ON o.organization_id = b.organization_id
		WHERE b.destroyed_at IS NULL AND b.day < $1::date
		-- A legal hold keeps a bucket: a hold on its assistant's space, or on a conversation,
		-- user or document it holds data of.
		AND NOT EXISTS (SELECT 1 FROM pm_retention_holds h WHERE h.organization_id = b.organization_id AND (
			h.subject = 'space:' || a.space_id
			OR h.subject IN (SELECT l.subject FROM pm_retention_links l WHERE l.bucket = b.subject)))) x
	WHERE day + days < $1::date
	ORDER BY organization_id, owner_id, day
	LIMIT 20000`, today, domain.DefaultRetentionDays, domain.DefaultOrganizationSettings().AuditRetention.Days)
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read expired buckets")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (expired, error) {
		var e expired
		var subject string
		if err := row.Scan(&subject, &e.org, &e.owner, &e.days); err != nil {
			return e, err
		}
		s, err := domain.ParseSubject(subject)
		e.bucket = s
		return e, err
	})
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read expired buckets")
	}
	done := 0
	var first error
	for len(list) > 0 {
		n := 1
		for n < len(list) && n < 1000 && list[n].owner == list[0].owner && list[n].org == list[0].org {
			n++
		}
		k, err := r.destroy(ctx, list[:n])
		done += k
		if err != nil && first == nil {
			first = err
		}
		list = list[n:]
	}
	return done, first
}

// destroy shreds and destroys the buckets of one owner, then records their destruction.
func (r *retentionManager) destroy(ctx context.Context, group []expired) (int, error) {
	subjects := make([]domain.Subject, len(group))
	buckets := make([]commands.DestroyedBucket, len(group))
	names := make([]string, len(group))
	for i, e := range group {
		subjects[i] = e.bucket
		buckets[i] = commands.DestroyedBucket{Bucket: e.bucket, RetentionDays: e.days}
		names[i] = e.bucket.String()
		if err := r.d.Keyring.StartShredding(ctx, e.bucket, "retention", domain.SystemActor, shredMargin); err != nil {
			return 0, err
		}
	}
	if _, err := r.d.Keyring.DestroyAll(ctx, subjects); err != nil {
		return 0, err
	}
	sum := sha256.Sum256([]byte(strings.Join(names, "\n")))
	owner, org := group[0].owner, group[0].org
	_, err := r.d.App.RecordRetentionDestruction.Handle(ctx, commands.RecordRetentionDestruction{
		Meta:           commands.Meta{CommandID: "retention:" + owner + ":" + hex.EncodeToString(sum[:16]), ActorID: domain.SystemActor},
		OrganizationID: org, OwnerID: owner, Buckets: buckets})
	if err != nil {
		return 0, err
	}
	r.log.Info("retention: buckets destroyed", "owner", owner, "buckets", len(group))
	return len(group), nil
}
