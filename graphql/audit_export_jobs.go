package graphql

import (
	"context"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// AuditExportJobs builds audit exports of any size in the background, each file kept on the
// server for its requester to download.
type AuditExportJobs interface {
	// Start begins the export of org's entries selected by o for requester (already
	// authorised and recorded) and returns its job.
	Start(ctx context.Context, org, requester string, o readmodels.AuditExportOptions) (*generated.AuditExportJob, error)
	// Get returns requester's job id in org; not found for anyone else's.
	Get(ctx context.Context, org, requester, id string) (*generated.AuditExportJob, error)
}

// AuditExportJob is the resolver for the auditExportJob field.
func (r queryResolver) AuditExportJob(ctx context.Context, id string) (*generated.AuditExportJob, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	if r.AuditExports == nil {
		return nil, nil
	}
	job, err := r.AuditExports.Get(ctx, p.OrganizationID, m.ActorID, id)
	if err != nil {
		if domain.KindOf(err) == domain.KindNotFound {
			return nil, nil
		}
		return nil, err
	}
	return job, nil
}

// AuditSession is the resolver for the auditSession field.
func (r queryResolver) AuditSession(ctx context.Context) (*generated.AuditSession, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	s, ok, err := r.App.AuditSessionOf(ctx, m.ActorID)
	if err != nil || !ok {
		return nil, err
	}
	left := int(s.ExpiresAt.Sub(r.now()).Seconds())
	return &generated.AuditSession{ID: s.ID, OpenedAt: s.OpenedAt, ExpiresAt: s.ExpiresAt, SecondsLeft: max(0, left)}, nil
}
