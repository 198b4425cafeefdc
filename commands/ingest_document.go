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

// ingestDocument runs IngestDocument; Result.ID is the document's id.
func (x *executor) ingestDocument(ctx context.Context, c IngestDocument) (Result, error) {
	id := orDefault(c.DocumentID, DerivedID(c.CommandID, "document"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdIngestDocument,
		target: func(act actor) domain.Aggregate { return domain.NewDocument(id) },
		create: true,
		space:  func(domain.Aggregate) string { return c.SpaceID },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			sp := domain.NewSpace(c.SpaceID)
			if err := x.loadSameOrg(ctx, act, sp, "space"); err != nil {
				return err
			}
			return t.(*domain.Document).Ingest(sp, c.Title, c.ContentType, c.Text, act.id)
		},
	})
}
