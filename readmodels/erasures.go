package readmodels

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// DeletedItem is an erasure order still within its grace window: what was deleted, by whom,
// through which command and why, until when it can be restored, and any legal hold that now
// keeps it from completing.
type DeletedItem struct {
	ErasureID       string             `json:"erasureId"`
	OrganizationID  string             `json:"organizationId"`
	SubjectType     domain.SubjectKind `json:"subjectType"`
	SubjectID       string             `json:"subjectId"`
	SpaceID         *string            `json:"spaceId"`
	Origin          string             `json:"origin"`
	LegalBasis      *string            `json:"legalBasis"`
	RequestedBy     string             `json:"requestedBy"`
	RequestedAt     time.Time          `json:"requestedAt"`
	RestorableUntil time.Time          `json:"restorableUntil"`
	State           string             `json:"state"`
	LegalHold       *LegalHold         `json:"legalHold"`
}

// LegalHold is a legal hold, active or lifted.
type LegalHold struct {
	ID             string             `json:"id"`
	OrganizationID string             `json:"organizationId"`
	SubjectType    domain.SubjectKind `json:"subjectType"`
	SubjectID      string             `json:"subjectId"`
	SpaceID        *string            `json:"spaceId"`
	Reason         string             `json:"reason"`
	PlacedBy       string             `json:"placedBy"`
	PlacedAt       time.Time          `json:"placedAt"`
	LiftedBy       *string            `json:"liftedBy"`
	LiftedAt       *time.Time         `json:"liftedAt"`
	LiftReason     *string            `json:"liftReason"`
}

// ErasureCertificate is the recorded certificate of a completed erasure: Certificate is
// verbatim what the erasure.certified.v1 event holds (a C2SP signed note when Signed).
type ErasureCertificate struct {
	ErasureID   string             `json:"erasureId"`
	SubjectType domain.SubjectKind `json:"subjectType"`
	SubjectID   string             `json:"subjectId"`
	Signed      bool               `json:"signed"`
	CertifiedAt time.Time          `json:"certifiedAt"`
	Certificate string             `json:"certificate"`
}

// MaxDeletedItems bounds DeletedItems and LegalHolds.
const MaxDeletedItems = 500

const holdCols = `h.hold_id, h.organization_id, h.subject_type, h.subject_id, h.space_id, h.reason, h.placed_by, h.placed_at,
	h.lifted_by, h.lifted_at, h.lift_reason`

func scanHold(row pgx.Row) (LegalHold, error) {
	var h LegalHold
	err := row.Scan(&h.ID, &h.OrganizationID, &h.SubjectType, &h.SubjectID, &h.SpaceID, &h.Reason, &h.PlacedBy, &h.PlacedAt,
		&h.LiftedBy, &h.LiftedAt, &h.LiftReason)
	return h, err
}

// DeletedItems returns the organisation's pending erasure orders, newest first, at most
// limit (1 to MaxDeletedItems); with spaceID, only those of subjects in that space (the
// space itself included). Who may see which is the API's decision: organisation Admins all,
// a space's Admins their space's.
func (r *Reader) DeletedItems(ctx context.Context, orgID string, spaceID *string, limit int) ([]DeletedItem, error) {
	const op = "readmodels.DeletedItems"
	if limit <= 0 || limit > MaxDeletedItems {
		limit = MaxDeletedItems
	}
	rows, err := r.pool.Query(ctx, `SELECT e.erasure_id, e.organization_id, e.subject_type, e.subject_id, e.space_id, e.origin,
		nullif(e.legal_basis, ''), e.requested_by, e.requested_at, e.effective_at, e.state, `+holdCols+`
	FROM erasure_items e
	LEFT JOIN legal_holds h ON h.organization_id = e.organization_id AND h.lifted_at IS NULL AND (
		(h.subject_type = e.subject_type AND h.subject_id = e.subject_id)
		OR (h.subject_type = 'space' AND h.subject_id = e.space_id))
	WHERE e.organization_id = $1 AND e.state = 'PENDING' AND ($2::text IS NULL OR e.space_id = $2)
	ORDER BY e.requested_at DESC, e.erasure_id LIMIT $3`, orgID, spaceID, limit)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	out := []DeletedItem{}
	seen := map[string]bool{}
	for rows.Next() {
		var d DeletedItem
		var h LegalHold
		var hid, horg, htype, hsubject, hreason, hby *string
		var hat *time.Time
		if err := rows.Scan(&d.ErasureID, &d.OrganizationID, &d.SubjectType, &d.SubjectID, &d.SpaceID, &d.Origin, &d.LegalBasis,
			&d.RequestedBy, &d.RequestedAt, &d.RestorableUntil, &d.State,
			&hid, &horg, &htype, &hsubject, &h.SpaceID, &hreason, &hby, &hat, &h.LiftedBy, &h.LiftedAt, &h.LiftReason); err != nil {
			return nil, pgErr(op, err)
		}
		if seen[d.ErasureID] {
			continue // two holds cover it: one is enough to show
		}
		seen[d.ErasureID] = true
		if hid != nil {
			h.ID, h.OrganizationID, h.SubjectType, h.SubjectID = *hid, *horg, domain.SubjectKind(*htype), *hsubject
			h.Reason, h.PlacedBy, h.PlacedAt = *hreason, *hby, *hat
			d.LegalHold = &h
		}
		out = append(out, d)
	}
	return out, pgErr(op, rows.Err())
}

// ErasureSpace returns the space an erasure order of the organisation is about (its
// subject's space, or the space itself), empty for none; found is false for an order the
// organisation does not have.
func (r *Reader) ErasureSpace(ctx context.Context, orgID, erasureID string) (space string, found bool, err error) {
	var s *string
	found, err = one(ctx, r.pool, "readmodels.ErasureSpace", `SELECT CASE WHEN subject_type = 'space' THEN subject_id ELSE space_id END
		FROM erasure_items WHERE organization_id = $1 AND erasure_id = $2`, []any{orgID, erasureID}, &s)
	if s != nil {
		space = *s
	}
	return space, found, err
}

// LegalHolds returns the organisation's legal holds, newest first, lifted ones too when
// includeLifted.
func (r *Reader) LegalHolds(ctx context.Context, orgID string, includeLifted bool) ([]LegalHold, error) {
	const op = "readmodels.LegalHolds"
	rows, err := r.pool.Query(ctx, `SELECT `+holdCols+` FROM legal_holds h
	WHERE h.organization_id = $1 AND ($2 OR h.lifted_at IS NULL) ORDER BY h.placed_at DESC, h.hold_id LIMIT $3`,
		orgID, includeLifted, MaxDeletedItems)
	if err != nil {
		return nil, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LegalHold, error) { return scanHold(row) })
	if out == nil {
		out = []LegalHold{}
	}
	return out, pgErr(op, err)
}

// LegalHoldOn returns the active hold on a subject of the organisation, nil when none.
func (r *Reader) LegalHoldOn(ctx context.Context, orgID string, kind domain.SubjectKind, id string) (*LegalHold, error) {
	h, err := scanHold(r.pool.QueryRow(ctx, `SELECT `+holdCols+` FROM legal_holds h
	WHERE h.organization_id = $1 AND h.subject_type = $2 AND h.subject_id = $3 AND h.lifted_at IS NULL`, orgID, string(kind), id))
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, pgErr("readmodels.LegalHoldOn", err)
	}
	return &h, nil
}

// ErasureCertificate returns the certificate of an erasure of the organisation, nil when
// there is none (yet).
func (r *Reader) ErasureCertificate(ctx context.Context, orgID, erasureID string) (*ErasureCertificate, error) {
	var c ErasureCertificate
	var text *string
	var at *time.Time
	found, err := one(ctx, r.pool, "readmodels.ErasureCertificate", `SELECT erasure_id, subject_type, subject_id, signed, certified_at, certificate
		FROM erasure_items WHERE organization_id = $1 AND erasure_id = $2`, []any{orgID, erasureID},
		&c.ErasureID, &c.SubjectType, &c.SubjectID, &c.Signed, &at, &text)
	if err != nil || !found || text == nil {
		return nil, err
	}
	c.Certificate, c.CertifiedAt = *text, *at
	return &c, nil
}
