package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
)

// The verifiable log, for auditors.

// Ledger is what the API needs of the verifiable log (app adapts projections/ledger's
// Reader): its state, and inclusion proofs in the C2SP tlog-proof layout.
type Ledger interface {
	Integrity(ctx context.Context) (*generated.AuditIntegrity, error)
	Proof(ctx context.Context, eventID string) (string, error)
}

// AuditIntegrity is the resolver for the auditIntegrity field; the read is recorded first.
func (r queryResolver) AuditIntegrity(ctx context.Context) (*generated.AuditIntegrity, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if r.Ledger == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.auditIntegrity", "the verifiable log is not configured on this server")
	}
	if _, err := r.App.ViewAuditIntegrity.Handle(ctx, commands.ViewAuditIntegrity{Meta: m}); err != nil {
		return nil, err
	}
	return r.Ledger.Integrity(ctx)
}

// AuditProof is the resolver for the auditProof field; the read is recorded first.
func (r queryResolver) AuditProof(ctx context.Context, eventID string) (string, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return "", err
	}
	if r.Ledger == nil {
		return "", domain.E(domain.KindUnavailable, "graphql.auditProof", "the verifiable log is not configured on this server")
	}
	if _, err := r.App.ViewAuditIntegrity.Handle(ctx, commands.ViewAuditIntegrity{Meta: m, EventID: eventID}); err != nil {
		return "", err
	}
	// The proof names the event's stream and type: only the organisation's own events are
	// proved; another organisation's is as unknown as one that does not exist.
	p, _ := caller(ctx)
	if mine, err := r.Reads.EventOfOrganization(ctx, p.OrganizationID, eventID); err != nil || !mine {
		if err != nil {
			return "", err
		}
		return "", domain.E(domain.KindNotFound, "graphql.auditProof", "the ledger has no such event (yet)")
	}
	return r.Ledger.Proof(ctx, eventID)
}
