package commands

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ExportEvidence records that the actor exported the organisation's DPIA evidence bundle for
// a period (Admins): the manifest's SHA-256 and the covering checkpoint.
type ExportEvidence struct {
	Meta
	// OrganizationID names the organisation when the system actor runs it (`arkiv evidence
	// export` without --actor); a user's own organisation is used otherwise.
	OrganizationID string
	From, To       time.Time
	ManifestSHA256 string
	TreeSize       uint64
	Root           string
	WithNames      bool
}

// exportEvidence runs ExportEvidence.
func (x *executor) exportEvidence(ctx context.Context, c ExportEvidence) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdExportEvidence, operatorOrganization(c.OrganizationID), nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidatePeriod(c.From, c.To); err != nil {
				return nil, err
			}
			if b, err := hex.DecodeString(c.ManifestSHA256); err != nil || len(b) != 32 {
				return nil, domain.E(domain.KindInvalid, string(domain.CmdExportEvidence), "the manifest's SHA-256 must be 64 hex digits")
			}
			return domain.EvidenceExported{Exporter: act.id, From: c.From.UTC(), To: c.To.UTC(), ManifestSHA256: c.ManifestSHA256,
				TreeSize: c.TreeSize, Root: c.Root, WithNames: c.WithNames, ExportedAt: x.d.Clock.Now().UTC()}, nil
		})
}
