package graphql

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// Data portability: whole-organisation exports and data subjects' requests and exports.

// OrganizationExports runs whole-organisation exports in the background (app adapts the
// portability package): Start begins one for the actor's organisation; Get and Chunk answer
// only the organisation the export belongs to (nil for another's).
type OrganizationExports interface {
	Start(ctx context.Context, m commands.Meta, org string) (*generated.OrganizationExport, error)
	Get(ctx context.Context, org, id string) (*generated.OrganizationExport, error)
	Chunk(ctx context.Context, org, id string, index int) (*generated.OrganizationExportChunk, error)
}

// SubjectExports produces a person's subject access export and records it (the command
// authorises: Admins, or the person themselves).
type SubjectExports interface {
	Export(ctx context.Context, m commands.Meta, org, userID, requestID string) (*generated.SubjectExport, error)
}

func (r *Resolver) exportsOrUnavailable(op string) error {
	if r.OrgExports == nil {
		return domain.E(domain.KindUnavailable, op, "organisation exports are not available on this server")
	}
	return nil
}

// ExportOrganization is the resolver for the exportOrganization field.
func (r mutationResolver) ExportOrganization(ctx context.Context) (*generated.OrganizationExport, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.exportsOrUnavailable("graphql.exportOrganization"); err != nil {
		return nil, err
	}
	return r.OrgExports.Start(ctx, m, p.OrganizationID)
}

// OrganizationExport is the resolver for the organizationExport field.
func (r queryResolver) OrganizationExport(ctx context.Context, id string) (*generated.OrganizationExport, error) {
	_, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.exportsOrUnavailable("graphql.organizationExport"); err != nil {
		return nil, err
	}
	return r.OrgExports.Get(ctx, p.OrganizationID, id)
}

// OrganizationExportChunk is the resolver for the organizationExportChunk field.
func (r queryResolver) OrganizationExportChunk(ctx context.Context, id string, index int) (*generated.OrganizationExportChunk, error) {
	_, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.exportsOrUnavailable("graphql.organizationExportChunk"); err != nil {
		return nil, err
	}
	return r.OrgExports.Chunk(ctx, p.OrganizationID, id, index)
}

// SubjectRequests is the resolver for the subjectRequests field.
func (r queryResolver) SubjectRequests(ctx context.Context, openOnly *bool) ([]readmodels.SubjectRequest, error) {
	_, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	return r.Reads.SubjectRequests(ctx, p.OrganizationID, openOnly != nil && *openOnly)
}

// OpenSubjectRequest is the resolver for the openSubjectRequest field.
func (r mutationResolver) OpenSubjectRequest(ctx context.Context, userID string, kind string, receivedAt *time.Time) (*readmodels.SubjectRequest, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	at := r.now()
	if receivedAt != nil {
		at = receivedAt.UTC()
	}
	id := uuid.NewString()
	if _, err := r.App.OpenSubjectRequest.Handle(ctx, commands.OpenSubjectRequest{Meta: m, UserID: userID, RequestID: id,
		Kind: kind, ReceivedAt: at}); err != nil {
		return nil, err
	}
	return &readmodels.SubjectRequest{RequestID: id, UserID: userID, Kind: kind, ReceivedAt: at,
		DueAt: domain.SubjectRequestDue(at), OpenedBy: m.ActorID}, nil
}

// ExportSubjectData is the resolver for the exportSubjectData field.
func (r mutationResolver) ExportSubjectData(ctx context.Context, userID string, requestID *string) (*generated.SubjectExport, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if r.SubjectExports == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.exportSubjectData", "subject exports are not available on this server")
	}
	req := ""
	if requestID != nil {
		req = *requestID
	}
	return r.SubjectExports.Export(ctx, m, p.OrganizationID, userID, req)
}

// Overdue is the resolver for the SubjectRequest.overdue field.
func (r subjectRequestResolver) Overdue(_ context.Context, obj *readmodels.SubjectRequest) (bool, error) {
	return obj.Overdue(r.now()), nil
}

type subjectRequestResolver struct{ *Resolver }

// SubjectRequest implements generated.ResolverRoot.
func (r *Resolver) SubjectRequest() generated.SubjectRequestResolver {
	return subjectRequestResolver{r}
}
