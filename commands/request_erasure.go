package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RequestErasure orders the erasure of a data subject of the actor's organisation
// (Admins). The subject is hidden at once and destroyed after the grace window; a subject
// under legal hold is refused.
type RequestErasure struct {
	Meta
	// ErasureID is the order's id; empty derives one from the command id.
	ErasureID   string
	SubjectType domain.SubjectKind
	SubjectID   string
	// GraceDays overrides the organisation's erasure grace window when not nil.
	GraceDays *int
	// LegalBasis is why the erasure is ordered (e.g. "GDPR Art. 17(1)(a)"), at most
	// domain.MaxLegalBasisRunes characters.
	LegalBasis string
}

// requestErasure runs RequestErasure; Result.ID is the erasure's id.
func (x *executor) requestErasure(ctx context.Context, c RequestErasure) (Result, error) {
	if !domain.ErasableKind(c.SubjectType) {
		return Result{}, domain.E(domain.KindInvalid, string(domain.CmdRequestErasure),
			"subject type must be user, document, conversation, assistant, space or organization")
	}
	return x.orderErasureAs(ctx, c.Meta, c.ErasureID, domain.CmdRequestErasure, c.SubjectType, c.SubjectID, c.GraceDays, c.LegalBasis, nil)
}
