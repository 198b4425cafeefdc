package projections

import (
	"context"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameAuditStreams is the name of the audit-stream destinations projection.
const NameAuditStreams = "readmodel.audit_streams"

var (
	evAuditStreamConfigured = domain.AuditStreamConfigured{}.EventName()
	evAuditStreamRemoved    = domain.AuditStreamRemoved{}.EventName()
)

// AuditStreams keeps one audit_streams row per SIEM destination: its kind, format,
// endpoint, whether it streams the entries' detail, and the webhook secret as ciphertext
// (SealedRef), which the forwarder opens when it signs. A removed destination keeps its row
// with removed_at set.
type AuditStreams struct{}

// NewAuditStreams returns the projection.
func NewAuditStreams() *AuditStreams { return &AuditStreams{} }

// Name implements engine.Projection.
func (*AuditStreams) Name() string { return NameAuditStreams }

// Tables implements engine.Projection.
func (*AuditStreams) Tables() []string { return []string{"audit_streams"} }

type auditStreamWire struct {
	StreamID       string             `json:"streamId"`
	OrganizationID string             `json:"organizationId"`
	Config         domain.AuditStream `json:"config"`
	Secret         string             `json:"secret"`
	ConfiguredBy   string             `json:"configuredBy"`
}

// Apply implements engine.Projection.
func (*AuditStreams) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	switch ev.Type {
	case evAuditStreamConfigured:
		var w auditStreamWire
		if err := decode(ev, &w); err != nil {
			return err
		}
		c := w.Config
		// A configuration without a new secret keeps the stored one.
		_, err := tx.Exec(ctx, `INSERT INTO audit_streams (stream_id, organization_id, kind, format, endpoint,
				include_detail, ca_certificate, secret, configured_at, configured_by, created_position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (stream_id) DO UPDATE SET format = EXCLUDED.format, endpoint = EXCLUDED.endpoint,
				include_detail = EXCLUDED.include_detail, ca_certificate = EXCLUDED.ca_certificate,
				secret = coalesce(EXCLUDED.secret, audit_streams.secret), configured_at = EXCLUDED.configured_at,
				configured_by = EXCLUDED.configured_by`,
			w.StreamID, w.OrganizationID, c.Kind, c.Format, c.Endpoint, c.IncludeDetail, c.CACertificate,
			ref(ev, "secret", w.Secret), metaOf(ev).OccurredAt, w.ConfiguredBy, pos(ev))
		return err
	case evAuditStreamRemoved:
		var w auditStreamWire
		if err := decode(ev, &w); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_streams SET removed_at = $2 WHERE stream_id = $1 AND removed_at IS NULL`,
			w.StreamID, metaOf(ev).OccurredAt)
		return err
	}
	return nil
}
