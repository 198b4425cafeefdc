package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// The documents of a space and search over them.

// Documents is the resolver for the documents field.
func (r queryResolver) Documents(ctx context.Context, spaceID string, first *int, after *string, consistentAt *string) (*readmodels.DocumentConnection, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if ok, err := r.member(ctx, p, spaceID); err != nil || !ok {
		return empty[readmodels.Document](), err
	}
	c, err := r.Reads.Documents(ctx, p.OrganizationID, spaceID, pg)
	return &c, err
}

// Document is the resolver for the document field.
func (r queryResolver) Document(ctx context.Context, id string, consistentAt *string) (*readmodels.Document, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	d, err := r.Reads.Document(ctx, p.OrganizationID, id)
	if err != nil || d == nil {
		return nil, err
	}
	if ok, err := r.member(ctx, p, d.SpaceID); err != nil || !ok {
		return nil, err
	}
	return d, nil
}

// Content is the resolver for the content field.
func (r documentResolver) Content(ctx context.Context, obj *readmodels.Document) (*string, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	// The command authorises the read against the write model and records it.
	if _, err := r.App.ViewDocument.Handle(ctx, commands.ViewDocument{Meta: m, DocumentID: obj.ID}); err != nil {
		return nil, err
	}
	return r.Reads.DocumentContent(ctx, p.OrganizationID, obj.ID)
}

// Search is the resolver for the search field.
func (r queryResolver) Search(ctx context.Context, spaceID string, query string, limit *int, consistentAt *string) ([]readmodels.SearchHit, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	n := 10
	if limit != nil {
		n = *limit
	}
	if n < 1 || n > 50 {
		return nil, domain.E(domain.KindInvalid, "graphql.search", "limit must be 1 to 50")
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if ok, err := r.member(ctx, p, spaceID); err != nil || !ok {
		return []readmodels.SearchHit{}, err
	}
	hits, err := r.Reads.Search(ctx, p.OrganizationID, spaceID, query, n)
	if err != nil {
		return nil, err
	}
	// Search returns document text: it is audited like a document read, before it is served.
	if err := r.recordSearch(ctx, spaceID, len(hits)); err != nil {
		return nil, err
	}
	return hits, nil
}

// IngestDocument is the resolver for the ingestDocument field.
func (r mutationResolver) IngestDocument(ctx context.Context, input generated.IngestDocumentInput) (*generated.MutationResult, error) {
	ct := "text/plain"
	if input.ContentType != nil {
		ct = *input.ContentType
	}
	return run(ctx, r.App.IngestDocument, func(m commands.Meta) commands.IngestDocument {
		return commands.IngestDocument{Meta: m, SpaceID: input.SpaceID, Title: input.Title, ContentType: ct, Text: input.Content}
	})
}

// DeleteDocument is the resolver for the deleteDocument field.
func (r mutationResolver) DeleteDocument(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.DeleteDocument, func(m commands.Meta) commands.DeleteDocument {
		return commands.DeleteDocument{Meta: m, DocumentID: id}
	})
}
