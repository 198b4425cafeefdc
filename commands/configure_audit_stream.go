package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ConfigureAuditStream adds a SIEM destination of the organisation's audit log, or replaces
// the configuration of one it has (Admins). A new webhook destination gets a signing secret,
// returned once; RotateSecret draws a new one for an existing webhook.
type ConfigureAuditStream struct {
	Meta
	// StreamID is the destination to replace; empty adds one with an id derived from the
	// command id.
	StreamID      string
	Kind          string
	Format        string
	Endpoint      string
	IncludeDetail bool
	CACertificate string
	RotateSecret  bool
}

// AuditStreamResult is the outcome of ConfigureAuditStream. Secret is the webhook's new
// signing secret ("whsec_…"), empty when none was drawn or the command was a retry of one
// already applied: a secret is shown only once.
type AuditStreamResult struct {
	StreamID string
	Secret   string
	Position uint64
}

// configureAuditStream runs ConfigureAuditStream.
func (x *executor) configureAuditStream(ctx context.Context, c ConfigureAuditStream) (AuditStreamResult, error) {
	id := c.StreamID
	if id == "" {
		id = DerivedID(c.CommandID, "auditstream")
	} else if err := domain.ValidateID("audit stream id", id); err != nil {
		return AuditStreamResult{}, err
	}
	cfg, err := domain.NewAuditStream(c.Kind, c.Format, c.Endpoint, c.IncludeDetail, c.CACertificate)
	if err != nil {
		return AuditStreamResult{}, err
	}
	var secret string
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdConfigureAuditStream,
		target: func(act actor) domain.Aggregate { return domain.NewAuditStreamDestination(id) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			d := t.(*domain.AuditStreamDestination)
			if c.StreamID != "" && d.OrganizationID() == "" {
				return domain.E(domain.KindNotFound, "audit_stream.configure", "audit stream not found")
			}
			secret = ""
			if cfg.Kind == domain.AuditStreamWebhook && (d.OrganizationID() == "" || c.RotateSecret) {
				s, err := domain.GenerateWebhookSecret(x.d.Random)
				if err != nil {
					return err
				}
				secret = s
			}
			return d.Configure(act.org, cfg, secret, act.id)
		},
	})
	if err != nil {
		return AuditStreamResult{}, err
	}
	return AuditStreamResult{StreamID: res.ID, Secret: secret, Position: res.Position}, nil
}

// RemoveAuditStream removes a SIEM destination of the organisation's audit log (Admins):
// nothing more is delivered to it.
type RemoveAuditStream struct {
	Meta
	StreamID string
}

// removeAuditStream runs RemoveAuditStream.
func (x *executor) removeAuditStream(ctx context.Context, c RemoveAuditStream) (Result, error) {
	if err := domain.ValidateID("audit stream id", c.StreamID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRemoveAuditStream,
		target: func(act actor) domain.Aggregate { return domain.NewAuditStreamDestination(c.StreamID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.AuditStreamDestination).Remove(act.id)
		},
	})
}
