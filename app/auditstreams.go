package app

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/infra/siem"
	"github.com/arkiv/arkiv/projections/auditstream"
	"github.com/arkiv/arkiv/readmodels"
)

// auditSinks opens infra/siem's publishers for the forwarder.
type auditSinks struct{ s *siem.Sinks }

func (a auditSinks) Open(ctx context.Context, t readmodels.AuditStreamTarget) (message.Publisher, string, error) {
	return a.s.Open(ctx, siem.Destination{ID: t.ID, OrganizationID: t.OrganizationID, Kind: t.Kind, Format: t.Format,
		Endpoint: t.Endpoint, Secret: t.Secret, CACertificate: t.CACertificate})
}

// NewAuditForwarder returns a forwarder of the audit streams over the platform's read
// models (Run runs one when Projections is set and NoAuditStreams is not); tune adjusts its
// configuration (tests and benchmarks shorten the intervals).
func (p *Platform) NewAuditForwarder(tune func(*auditstream.Config)) (*auditstream.Forwarder, error) {
	cfg := auditstream.Config{Pool: p.Pool, Reads: p.Reads, Waiter: p.Waiter, Sinks: auditSinks{p.sinks},
		Clock: p.clock, Logger: p.log}
	if tune != nil {
		tune(&cfg)
	}
	return auditstream.New(cfg)
}
