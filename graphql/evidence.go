package graphql

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
)

// DPIA evidence exports, for data protection officers.

// EvidenceExports runs DPIA evidence exports in the background (app adapts the evidence
// package): Start begins one for the actor's organisation, Get returns its state, only to
// the organisation it belongs to.
type EvidenceExports interface {
	Start(ctx context.Context, m commands.Meta, org string, from, to time.Time, withNames bool) (*generated.EvidenceExport, error)
	Get(ctx context.Context, org, id string) (*generated.EvidenceExport, error)
}

// ExportEvidence is the resolver for the exportEvidence field.
func (r mutationResolver) ExportEvidence(ctx context.Context, from, to time.Time, withNames *bool) (*generated.EvidenceExport, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if r.Evidence == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.exportEvidence", "evidence exports need the ledger's signing key on this server")
	}
	if err := domain.ValidatePeriod(from, to); err != nil {
		return nil, err
	}
	return r.Evidence.Start(ctx, m, p.OrganizationID, from.UTC(), to.UTC(), withNames != nil && *withNames)
}

// EvidenceExport is the resolver for the evidenceExport field.
func (r queryResolver) EvidenceExport(ctx context.Context, id string) (*generated.EvidenceExport, error) {
	_, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if r.Evidence == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.evidenceExport", "evidence exports need the ledger's signing key on this server")
	}
	return r.Evidence.Get(ctx, p.OrganizationID, id)
}
