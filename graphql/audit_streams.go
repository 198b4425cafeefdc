package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// Audit streams: the SIEM destinations of the audit log.

// AuditStreams is the resolver for the auditStreams field: the caller's organisation's only.
func (r queryResolver) AuditStreams(ctx context.Context, consistentAt *string) ([]readmodels.AuditStream, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	out, err := r.Reads.AuditStreams(ctx, p.OrganizationID)
	if out == nil && err == nil {
		out = []readmodels.AuditStream{}
	}
	return out, err
}

// ConfigureAuditStream is the resolver for the configureAuditStream field.
func (r mutationResolver) ConfigureAuditStream(ctx context.Context, in generated.ConfigureAuditStreamInput) (*generated.ConfigureAuditStreamPayload, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	res, err := r.App.ConfigureAuditStream.Handle(ctx, commands.ConfigureAuditStream{Meta: m, StreamID: deref(in.ID),
		Kind: in.Kind, Format: in.Format, Endpoint: in.Endpoint, IncludeDetail: in.IncludeDetail != nil && *in.IncludeDetail,
		CACertificate: deref(in.CaCertificate), RotateSecret: in.RotateSecret != nil && *in.RotateSecret})
	if err != nil {
		return nil, err
	}
	out := &generated.ConfigureAuditStreamPayload{ID: res.StreamID, Position: position(res.Position)}
	if res.Secret != "" {
		out.Secret = &res.Secret
	}
	return out, nil
}

// RemoveAuditStream is the resolver for the removeAuditStream field.
func (r mutationResolver) RemoveAuditStream(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.RemoveAuditStream, func(m commands.Meta) commands.RemoveAuditStream {
		return commands.RemoveAuditStream{Meta: m, StreamID: id}
	})
}
