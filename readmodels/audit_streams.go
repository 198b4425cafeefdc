package readmodels

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
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
	coalesce(st.commit_position, s.created_position), coalesce(st.prepare_position, 9223372036854775807),
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
// its ledger leaf; an entry whose event the ledger has not taken yet is KindUnavailable. The
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
			rows.Close()
			return nil, domain.E(domain.KindUnavailable, op, "the ledger has not taken an audit entry's event yet")
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

// EncodeStreamRecord returns a record in an audit stream's format (domain.AuditFormatOCSF,
// AuditFormatJSONL or AuditFormatCEF): the OCSF event of the audit export with the leaf
// under unmapped, the JSONL line of the export with ledgerLeafIndex and ledgerLeafHash, or
// a CEF line. No trailing newline.
func EncodeStreamRecord(format string, s *StreamRecord) ([]byte, error) {
	const op = "readmodels.EncodeStreamRecord"
	idx := s.LeafIndex
	hash := base64.StdEncoding.EncodeToString(s.LeafHash)
	a := &s.AuditEntry
	switch format {
	case domain.AuditFormatOCSF:
		rec := OCSFRecord(a, "", "")
		rec.Unmapped.LedgerLeafIndex, rec.Unmapped.LedgerLeafHash = &idx, hash
		return marshal(op, rec)
	case domain.AuditFormatJSONL:
		return marshal(op, jsonlEntry{EventID: a.EventID, Position: a.Position, OccurredAt: a.OccurredAt.UTC(), Action: a.Action,
			Outcome: a.Outcome, ActorID: a.ActorID, TargetType: a.TargetType, TargetID: a.TargetID, Subject: a.Subject,
			ReasonCode: a.ReasonCode, OrganizationID: a.OrganizationID, SpaceID: a.SpaceID, Detail: a.Detail,
			DetailShredded: a.DetailShredded, LedgerLeafIndex: &idx, LedgerLeafHash: hash})
	case domain.AuditFormatCEF:
		return CEFRecord(s), nil
	}
	return nil, domain.E(domain.KindInvalid, op, "unknown audit stream format")
}

func marshal(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "encode a record")
	}
	return b, nil
}

// CEFRecord returns an ArcSight Common Event Format (CEF:0) line for a record: the header
// (vendor and product Arkiv, the action as signature id, the OCSF activity as name, severity
// 3 for ok and 6 otherwise) and extensions rt (ms), act, outcome, suser (the actor's
// pseudonymous id), duid (the subject user's), externalId (the event id), cs1 to cs6
// (organisation, target type, target id, space, reason code, leaf hash), cn1 (leaf index),
// cn2 (log position) and, when streamed, msg with the detail as JSON.
func CEFRecord(s *StreamRecord) []byte {
	a := &s.AuditEntry
	_, _, activity := OCSFClassOf(a.Action)
	sev := "3"
	if a.Outcome != AuditOK {
		sev = "6"
	}
	b := make([]byte, 0, 512)
	b = append(b, "CEF:0|Arkiv|Arkiv|1|"...)
	b = cefHeader(b, a.Action)
	b = append(b, '|')
	b = cefHeader(b, activity)
	b = append(b, '|')
	b = append(b, sev...)
	b = append(b, '|')
	ext := func(k, v string) {
		if v == "" {
			return
		}
		if b[len(b)-1] != '|' {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = cefValue(b, v)
	}
	ext("rt", strconv.FormatInt(a.OccurredAt.UnixMilli(), 10))
	ext("act", a.Action)
	ext("outcome", a.Outcome)
	ext("suser", a.ActorID)
	if id, ok := strings.CutPrefix(a.Subject, string(domain.SubjectUser)+":"); ok {
		ext("duid", id)
	}
	ext("externalId", a.EventID)
	ext("cs1Label", "organizationId")
	ext("cs1", a.OrganizationID)
	if a.TargetType != "" {
		ext("cs2Label", "targetType")
		ext("cs2", a.TargetType)
	}
	if a.TargetID != "" {
		ext("cs3Label", "targetId")
		ext("cs3", a.TargetID)
	}
	if a.SpaceID != "" {
		ext("cs4Label", "spaceId")
		ext("cs4", a.SpaceID)
	}
	if a.ReasonCode != "" {
		ext("cs5Label", "reasonCode")
		ext("cs5", a.ReasonCode)
	}
	ext("cs6Label", "ledgerLeafHash")
	ext("cs6", base64.StdEncoding.EncodeToString(s.LeafHash))
	ext("cn1Label", "ledgerLeafIndex")
	ext("cn1", strconv.FormatUint(s.LeafIndex, 10))
	ext("cn2Label", "logPosition")
	ext("cn2", strconv.FormatUint(a.Position, 10))
	if a.Detail != nil {
		d, _ := json.Marshal(a.Detail)
		ext("msg", string(d))
	}
	return b
}

// cefHeader appends a header field with | and \ escaped and line breaks as spaces.
func cefHeader(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '|', '\\':
			b = append(b, '\\', c)
		case '\r', '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// cefValue appends an extension value with = and \ escaped and line breaks as \n / \r.
func cefValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '=', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Healthy reports whether the destination has had no error since its last delivery.
func (h AuditStreamHealth) Healthy() bool { return h.LastError == "" }

// Position is Checkpoint in decimal, as the API serves log positions.
func (h AuditStreamHealth) Position() string { return strconv.FormatUint(h.Checkpoint, 10) }

// LastErrorText is LastError, nil when empty.
func (h AuditStreamHealth) LastErrorText() *string {
	if h.LastError == "" {
		return nil
	}
	return &h.LastError
}
