package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteSpace deletes a space (Space Admins): an erasure order of the space and everything
// in it, hidden from every member at once, restorable for the organisation's grace window,
// then shredded.
type DeleteSpace struct {
	Meta
	SpaceID string
	// LegalBasis is why, if said.
	LegalBasis string
}

// deleteSpace runs DeleteSpace; Result.ID is the erasure's id.
func (x *executor) deleteSpace(ctx context.Context, c DeleteSpace) (Result, error) {
	return x.orderErasure(ctx, c.Meta, domain.CmdDeleteSpace, domain.SubjectSpace, c.SpaceID, nil, c.LegalBasis, nil)
}
