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

// DeleteDocumentHandler handles DeleteDocument.
type DeleteDocumentHandler struct{ x *executor }

// NewDeleteDocumentHandler returns the handler; it refuses nil dependencies.
func NewDeleteDocumentHandler(d Deps) (*DeleteDocumentHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &DeleteDocumentHandler{x}, nil
}

// Handle runs the command.
func (h *DeleteDocumentHandler) Handle(ctx context.Context, c DeleteDocument) (Result, error) {
	if err := domain.ValidateID("document id", c.DocumentID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdDeleteDocument,
		target: func(act actor) domain.Aggregate { return domain.NewDocument(c.DocumentID) },
		space:  domain.Aggregate.SpaceID,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Document).Delete()
		},
	})
}
