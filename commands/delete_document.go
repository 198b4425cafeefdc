package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteDocument deletes a document (Space Editors and Admins): an erasure order, hidden at
// once, restorable for the organisation's grace window, then shredded.
type DeleteDocument struct {
	Meta
	DocumentID string
	// LegalBasis is why, if said (e.g. "retention schedule 4.2").
	LegalBasis string
}

// deleteDocument runs DeleteDocument; Result.ID is the erasure's id.
func (x *executor) deleteDocument(ctx context.Context, c DeleteDocument) (Result, error) {
	return x.orderErasure(ctx, c.Meta, domain.CmdDeleteDocument, domain.SubjectDocument, c.DocumentID, nil, c.LegalBasis, nil)
}
