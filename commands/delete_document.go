package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteDocument deletes a document (Space Editors and Admins).
type DeleteDocument struct {
	Meta
	DocumentID string
}

// deleteDocument runs DeleteDocument.
func (x *executor) deleteDocument(ctx context.Context, c DeleteDocument) (Result, error) {
	if err := domain.ValidateID("document id", c.DocumentID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeleteDocument,
		target: func(act actor) domain.Aggregate { return domain.NewDocument(c.DocumentID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Document).Delete()
		},
	})
}
