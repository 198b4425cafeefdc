package readmodels

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// AuditStream is a SIEM destination of an organisation's audit log, with its delivery
// health. It never carries the webhook secret.
type AuditStream struct {
	ID             string
	OrganizationID string
	// Kind is domain.AuditStreamWebhook, AuditStreamSyslog or AuditStreamJetStream.
	Kind string
	// Format is domain.AuditFormatOCSF, AuditFormatJSONL or AuditFormatCEF.
	Format        string
	Endpoint      string
	IncludeDetail bool
	CACertificate string
	ConfiguredAt  time.Time
	ConfiguredBy  string
	// CreatedPosition is the log position of the destination's first configuration: delivery
	// starts after it.
	CreatedPosition uint64
	Health          AuditStreamHealth
}

// AuditStreamHealth is how a destination's delivery goes.
type AuditStreamHealth struct {
	// Checkpoint is the log position of the last entry acknowledged (every earlier one was
	// delivered too); CreatedPosition before the first.
	Checkpoint        uint64
	CheckpointPrepare uint64
	// Delivered counts the records acknowledged, Poisoned those refused for good and moved
	// to the poison queue.
	Delivered int64
	Poisoned  int64
	// Lag counts the organisation's audit entries after the checkpoint (up to LagCap).
	Lag int
	// LastError and LastErrorAt are the destination's latest failure, empty when it has
	// none since its last delivery.
	LastError       string
	LastErrorAt     *time.Time
	LastDeliveredAt *time.Time
}

// LagCap is the most entries AuditStreamHealth.Lag counts.
const LagCap = 100000

// AuditStreamTarget is a live destination as the forwarder needs it: with its webhook
// secret opened. Only the forwarder reads it; it is never served.
type AuditStreamTarget struct {
	AuditStream
	// Secret is the webhook signing secret ("whsec_…"); empty for other kinds, or when the
	// organisation has been erased.
	Secret string
}

const auditStreamCols = `s.stream_id, s.organization_id, s.kind, s.format, s.endpoint, s.include_detail, s.ca_certificate,
	s.configured_at, s.configured_by, s.created_position,
	coalesce(st.commit_position, s.created_position), coalesce(st.prepare_position, 0),
	coalesce(st.delivered, 0), coalesce(st.poisoned, 0), coalesce(st.last_error, ''), st.last_error_at, st.last_delivered_at,
	s.secret`

// AuditStreams returns the organisation's live destinations with their health, oldest first.
func (r *Reader) AuditStreams(ctx context.Context, orgID string) ([]AuditStream, error) {
	ts, err := r.auditStreams(ctx, "readmodels.AuditStreams", true, "s.organization_id = $1", orgID)
	out := make([]AuditStream, len(ts))
	for i, t := range ts {
		out[i] = t.AuditStream
	}
	return out, err
}

// AllAuditStreams returns every organisation's live destinations with their health, for
// `arkiv projections status`.
func (r *Reader) AllAuditStreams(ctx context.Context) ([]AuditStream, error) {
	ts, err := r.auditStreams(ctx, "readmodels.AllAuditStreams", true, "true")
	out := make([]AuditStream, len(ts))
	for i, t := range ts {
		out[i] = t.AuditStream
	}
	return out, err
}

// AuditStreamTargets returns every live destination with its secret opened (the forwarder's
// view); the health's Lag is not counted.
func (r *Reader) AuditStreamTargets(ctx context.Context) ([]AuditStreamTarget, error) {
	const op = "readmodels.AuditStreamTargets"
	ts, err := r.auditStreams(ctx, op, false, "true")
	if err != nil {
		return nil, err
	}
	return ts, nil
}

func (r *Reader) auditStreams(ctx context.Context, op string, lag bool, where string, args ...any) ([]AuditStreamTarget, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+auditStreamCols+` FROM audit_streams s
		LEFT JOIN audit_stream_state st ON st.stream_id = s.stream_id
		WHERE s.removed_at IS NULL AND `+where+` ORDER BY s.created_position, s.stream_id`, args...)
	if err != nil {
		return nil, pgErr(op, err)
	}
	var out []AuditStreamTarget
	var secrets []*sealedRef
	for rows.Next() {
		var t AuditStreamTarget
		var created, cp, pp int64
		var secret *sealedRef
		h := &t.Health
		if err := rows.Scan(&t.ID, &t.OrganizationID, &t.Kind, &t.Format, &t.Endpoint, &t.IncludeDetail, &t.CACertificate,
			&t.ConfiguredAt, &t.ConfiguredBy, &created, &cp, &pp, &h.Delivered, &h.Poisoned, &h.LastError, &h.LastErrorAt,
			&h.LastDeliveredAt, &secret); err != nil {
			rows.Close()
			return nil, pgErr(op, err)
		}
		t.CreatedPosition, h.Checkpoint, h.CheckpointPrepare = uint64(created), uint64(cp), uint64(pp)
		out = append(out, t)
		secrets = append(secrets, secret)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pgErr(op, err)
	}
	for i := range out {
		t := &out[i]
		if lag {
			if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE organization_id = $1
				AND (position, prepare_position) > ($2, $3) LIMIT $4) x`, t.OrganizationID, int64(t.Health.Checkpoint),
				int64(t.Health.CheckpointPrepare), LagCap).Scan(&t.Health.Lag); err != nil {
				return nil, pgErr(op, err)
			}
			continue
		}
		plain, err := r.open(ctx, secrets[i])
		if err != nil {
			return nil, err
		}
		if plain != nil {
			t.Secret = *plain
		}
	}
	return out, nil
}

// StreamRecord is one audit entry as an audit stream delivers it: the entry (its detail
// only when asked for) and the ledger leaf that covers its event.
type StreamRecord struct {
	AuditEntry
	// Prepare is the entry's prepare position: with Position, its place in the log.
	Prepare uint64
	// LeafIndex and LeafHash are the event's leaf in the verifiable log (RFC 6962).
	LeafIndex uint64
	LeafHash  []byte
}

// AuditStreamRecords returns up to limit of the organisation's audit entries after the log
// position (afterCommit, afterPrepare) and at or before through, oldest first, each with
// its ledger leaf; an entry whose event the ledger has not taken yet ends the batch. The
// detail is opened only when withDetail is set.
func (r *Reader) AuditStreamRecords(ctx context.Context, orgID string, afterCommit, afterPrepare, through uint64, limit int, withDetail bool) ([]StreamRecord, error) {
	const op = "readmodels.AuditStreamRecords"
	if limit <= 0 || limit > 10000 {
		return nil, domain.E(domain.KindInvalid, op, "limit must be 1 to 10000")
	}
	rows, err := r.pool.Query(ctx, `SELECT a.event_id, a.position, a.prepare_position, a.occurred_at, a.action,
			coalesce(a.actor_id, ''), coalesce(a.target_type, ''), coalesce(a.target_id, ''), a.outcome,
			coalesce(a.organization_id, ''), coalesce(a.space_id, ''), coalesce(a.subject, ''), coalesce(a.reason_code, ''),
			CASE WHEN $5 THEN coalesce(a.detail, '') ELSE '' END, l.idx, l.leaf_hash
		FROM audit_log a LEFT JOIN ledger_leaves l ON l.event_id = a.event_id::uuid
		WHERE a.organization_id = $1 AND (a.position, a.prepare_position) > ($2, $3) AND a.position <= $4
		ORDER BY a.position, a.prepare_position LIMIT $6`,
		orgID, int64(afterCommit), int64(afterPrepare), int64(through), withDetail, limit)
	if err != nil {
		return nil, pgErr(op, err)
	}
	var out []StreamRecord
	var details []string
	for rows.Next() {
		var s StreamRecord
		e := &s.AuditEntry
		var c, pr int64
		var idx *int64
		var detail string
		if err := rows.Scan(&e.EventID, &c, &pr, &e.OccurredAt, &e.Action, &e.ActorID, &e.TargetType, &e.TargetID,
			&e.Outcome, &e.OrganizationID, &e.SpaceID, &e.Subject, &e.ReasonCode, &detail, &idx, &s.LeafHash); err != nil {
			rows.Close()
			return nil, pgErr(op, err)
		}
		if idx == nil {
			break // the ledger has not taken this event yet
		}
		e.Position, s.Prepare, s.LeafIndex = uint64(c), uint64(pr), uint64(*idx)
		out = append(out, s)
		details = append(details, detail)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pgErr(op, err)
	}
	for i := range out {
		if err := r.openDetail(ctx, &out[i].AuditEntry, details[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
