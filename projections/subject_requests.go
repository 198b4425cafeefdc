package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameSubjectRequests is the name of the subject request case projection.
const NameSubjectRequests = "readmodel.subject_requests"

var (
	evSubjectRequestOpened = domain.SubjectRequestOpened{}.EventName()
	evSubjectDataExported  = domain.SubjectDataExported{}.EventName()
)

// SubjectRequests keeps one subject_requests row per data subject's request: opened with its
// deadline by user.subject_request_opened.v1, fulfilled by the first
// access.subject_data_exported.v1 that names it.
type SubjectRequests struct{}

// NewSubjectRequests returns the projection.
func NewSubjectRequests() *SubjectRequests { return &SubjectRequests{} }

// Name implements engine.Projection.
func (*SubjectRequests) Name() string { return NameSubjectRequests }

// Tables implements engine.Projection.
func (*SubjectRequests) Tables() []string { return []string{"subject_requests"} }

// Apply implements engine.Projection.
func (*SubjectRequests) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	const op = "projections.subject_requests"
	switch ev.Type {
	case evSubjectRequestOpened:
		var e struct {
			RequestID  string    `json:"requestId"`
			UserID     string    `json:"userId"`
			Kind       string    `json:"kind"`
			ReceivedAt time.Time `json:"receivedAt"`
			DueAt      time.Time `json:"dueAt"`
			OpenedBy   string    `json:"openedBy"`
		}
		if err := decode(ev, &e); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subject_requests (request_id, organization_id, user_id, kind, received_at,
			due_at, opened_by, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING`,
			e.RequestID, metaOf(ev).Organization, e.UserID, e.Kind, e.ReceivedAt, e.DueAt, e.OpenedBy, pos(ev)); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "write subject request")
		}
	case evSubjectDataExported:
		var e struct {
			RequestID     string    `json:"requestId"`
			UserID        string    `json:"userId"`
			Exporter      string    `json:"exporter"`
			ArchiveSHA256 string    `json:"archiveSha256"`
			ExportedAt    time.Time `json:"exportedAt"`
		}
		if err := decode(ev, &e); err != nil || e.RequestID == "" {
			return err
		}
		// Only a request of the same organisation and person is closed by the export.
		if _, err := tx.Exec(ctx, `UPDATE subject_requests SET fulfilled_at = $2, fulfilled_by = $3, archive_sha256 = $4
			WHERE request_id = $1 AND fulfilled_at IS NULL AND organization_id = $5 AND user_id = $6`,
			e.RequestID, e.ExportedAt, e.Exporter, e.ArchiveSHA256, metaOf(ev).Organization, e.UserID); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "fulfil subject request")
		}
	}
	return nil
}
