package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameErasureItems is the name of the projection of erasure orders and legal holds.
const NameErasureItems = "readmodel.erasures"

var (
	evErasureBasis     = domain.ErasureBasisRecorded{}.EventName()
	evErasureCertified = domain.ErasureCertified{}.EventName()
	evHoldPlaced       = domain.LegalHoldPlaced{}.EventName()
	evHoldLifted       = domain.LegalHoldLifted{}.EventName()
)

// ErasureItems keeps one erasure_items row per erasure order — its subject, origin, legal
// basis, restore deadline, state and certificate — and one legal_holds row per hold. It
// holds ids, times and the stated reasons, nothing derived from a subject's sealed fields,
// so erasure leaves its rows in place: they are the record that the erasure happened.
type ErasureItems struct{}

// NewErasureItems returns the projection.
func NewErasureItems() *ErasureItems { return &ErasureItems{} }

// Name implements engine.Projection.
func (*ErasureItems) Name() string { return NameErasureItems }

// Tables implements engine.Projection.
func (*ErasureItems) Tables() []string { return []string{"erasure_items", "legal_holds"} }

// Apply implements engine.Projection.
func (*ErasureItems) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	switch ev.Type {
	case evErasureRequested:
		var e domain.ErasureRequested
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO erasure_items (erasure_id, organization_id, subject_type, subject_id,
			requested_by, requested_at, effective_at, state, position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8) ON CONFLICT (erasure_id) DO NOTHING`,
			e.ErasureID, e.OrganizationID, string(e.SubjectType), e.SubjectID, e.RequestedBy, e.RequestedAt, e.EffectiveAt, pos(ev))
		return err
	case evErasureBasis:
		var e domain.ErasureBasisRecorded
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE erasure_items SET origin = $2, legal_basis = $3, space_id = nullif($4, '')
		WHERE erasure_id = $1`, e.ErasureID, string(e.Origin), e.LegalBasis, e.SpaceID)
		return err
	case evErasureRestored:
		var e domain.ErasureRestored
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE erasure_items SET state = 'RESTORED', restored_by = $2, restored_at = $3
		WHERE erasure_id = $1`, e.ErasureID, e.RestoredBy, e.RestoredAt)
		return err
	case evErasureCompleted:
		var e domain.ErasureCompleted
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE erasure_items SET state = 'COMPLETED', completed_at = $2 WHERE erasure_id = $1`,
			e.ErasureID, e.CompletedAt)
		return err
	case evErasureCertified:
		var e domain.ErasureCertified
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE erasure_items SET certificate = $2, signed = $3, certified_at = $4 WHERE erasure_id = $1`,
			e.ErasureID, e.Certificate, e.Signed, e.CertifiedAt)
		return err
	case evHoldPlaced:
		var e domain.LegalHoldPlaced
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO legal_holds (hold_id, organization_id, subject_type, subject_id, space_id,
			reason, placed_by, placed_at) VALUES ($1, $2, $3, $4, nullif($5, ''), $6, $7, $8) ON CONFLICT (hold_id) DO NOTHING`,
			e.HoldID, e.OrganizationID, string(e.SubjectType), e.SubjectID, e.SpaceID, e.Reason, e.PlacedBy, e.PlacedAt)
		return err
	case evHoldLifted:
		var e domain.LegalHoldLifted
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE legal_holds SET lifted_by = $2, lifted_at = $3, lift_reason = $4 WHERE hold_id = $1`,
			e.HoldID, e.LiftedBy, e.LiftedAt.UTC().Truncate(time.Microsecond), e.Reason)
		return err
	}
	return nil
}
