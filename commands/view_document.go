package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ViewDocument records that the actor reads a document (space members); the read itself is
// served by the read model.
type ViewDocument struct {
	Meta
	DocumentID string
}

// viewDocument runs ViewDocument.
func (x *executor) viewDocument(ctx context.Context, c ViewDocument) (Result, error) {
	if err := domain.ValidateID("document id", c.DocumentID); err != nil {
		return Result{}, err
	}
	return x.recordAccess(ctx, c.Meta, domain.CmdViewDocument,
		func(actor) domain.Aggregate { return domain.NewDocument(c.DocumentID) },
		domain.Aggregate.SpaceID,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if !t.(*domain.Document).Live() {
				return nil, domain.E(domain.KindNotFound, "document.view", "document not found")
			}
			return domain.DocumentViewed{Viewer: act.id, DocumentID: t.ID(), SpaceID: t.SpaceID(), ViewedAt: x.d.Clock.Now().UTC()}, nil
		})
}
