package readmodels

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// SubjectRequest is a data subject's request case: what was asked, when it was received,
// its one-month deadline, and whether (and when, by whom) an export answered it.
type SubjectRequest struct {
	RequestID     string
	UserID        string
	Kind          string
	ReceivedAt    time.Time
	DueAt         time.Time
	OpenedBy      string
	FulfilledAt   *time.Time
	FulfilledBy   *string
	ArchiveSHA256 *string
}

// Overdue reports whether the request is still open after its deadline at now.
func (s SubjectRequest) Overdue(now time.Time) bool {
	return s.FulfilledAt == nil && now.After(s.DueAt)
}

// SubjectRequests returns the organisation's request cases, open ones first, each group by
// deadline; openOnly leaves out the fulfilled. At most 500.
func (r *Reader) SubjectRequests(ctx context.Context, orgID string, openOnly bool) ([]SubjectRequest, error) {
	rows, err := r.pool.Query(ctx, `SELECT request_id, user_id, kind, received_at, due_at, opened_by, fulfilled_at,
			fulfilled_by, archive_sha256
		FROM subject_requests WHERE organization_id = $1 AND (NOT $2 OR fulfilled_at IS NULL)
		ORDER BY fulfilled_at IS NOT NULL, due_at, request_id LIMIT 500`, orgID, openOnly)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "readmodels.subject_requests", err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SubjectRequest])
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "readmodels.subject_requests", err, "")
	}
	return out, nil
}

// SubjectRequestByID returns the organisation's request case id; a KindNotFound error when
// the organisation has none of that id.
func (r *Reader) SubjectRequestByID(ctx context.Context, orgID, id string) (SubjectRequest, error) {
	var s SubjectRequest
	found, err := one(ctx, r.pool, "readmodels.subject_request", `SELECT request_id, user_id, kind, received_at, due_at, opened_by,
			fulfilled_at, fulfilled_by, archive_sha256 FROM subject_requests WHERE organization_id = $1 AND request_id = $2`,
		[]any{orgID, id}, &s.RequestID, &s.UserID, &s.Kind, &s.ReceivedAt, &s.DueAt, &s.OpenedBy, &s.FulfilledAt, &s.FulfilledBy, &s.ArchiveSHA256)
	if err != nil {
		return SubjectRequest{}, err
	}
	if !found {
		return SubjectRequest{}, domain.E(domain.KindNotFound, "readmodels.subject_request", "no such subject request")
	}
	return s, nil
}
