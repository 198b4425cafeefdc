package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// IngestDocument adds a document's title and extracted text to a space (Space Editors and
// Admins). Large texts are split across several events of one append.
type IngestDocument struct {
	Meta
	// DocumentID is the new document's id; empty derives one from the command id.
	DocumentID  string
	SpaceID     string
	Title       string
	ContentType string
	Text        string
}

// IngestDocumentHandler handles IngestDocument.
type IngestDocumentHandler struct{ x *executor }

// NewIngestDocumentHandler returns the handler; it refuses nil dependencies.
func NewIngestDocumentHandler(d Deps) (*IngestDocumentHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &IngestDocumentHandler{x}, nil
}

// Handle runs the command; Result.ID is the document's id.
func (h *IngestDocumentHandler) Handle(ctx context.Context, c IngestDocument) (Result, error) {
	id := orDefault(c.DocumentID, DerivedID(c.CommandID, "document"))
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdIngestDocument,
		target: func(act actor) domain.Aggregate { return domain.NewDocument(id) },
		create: true,
		space:  func(domain.Aggregate) string { return c.SpaceID },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			sp := domain.NewSpace(c.SpaceID)
			if err := h.x.loadSameOrg(ctx, act, sp, "space"); err != nil {
				return err
			}
			return t.(*domain.Document).Ingest(sp, c.Title, c.ContentType, c.Text, act.id)
		},
	})
}
