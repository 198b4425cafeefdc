package commands

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// OpenSubjectRequest opens a data subject's request case for a user of the actor's
// organisation, with its one-month deadline (GDPR Art. 12(3)): Admins for anyone, anyone
// for themselves. ReceivedAt defaults to now.
type OpenSubjectRequest struct {
	Meta
	UserID     string
	RequestID  string
	Kind       string
	ReceivedAt time.Time
}

// openSubjectRequest runs OpenSubjectRequest; the result's ID is the user's.
func (x *executor) openSubjectRequest(ctx context.Context, c OpenSubjectRequest) (Result, error) {
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:        domain.CmdOpenSubjectRequest,
		target:     func(actor) domain.Aggregate { return domain.NewUser(c.UserID) },
		denyReason: domain.ReasonRole,
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			if err := selfOrAdmin(act, t, domain.CmdOpenSubjectRequest); err != nil {
				return err
			}
			at := c.ReceivedAt
			if at.IsZero() {
				at = x.d.Clock.Now()
			}
			if at.After(x.d.Clock.Now().Add(time.Minute)) {
				return domain.E(domain.KindInvalid, string(domain.CmdOpenSubjectRequest), "a request cannot be received in the future")
			}
			return t.(*domain.User).OpenSubjectRequest(c.RequestID, c.Kind, at, act.id)
		},
	})
}

// selfOrAdmin refuses an actor who is neither an Admin nor the user t (the system actor
// runs the operator's CLI and may).
func selfOrAdmin(act actor, t domain.Aggregate, cmd domain.Command) error {
	if act.system || act.role == domain.OrgRoleAdmin || act.id == t.ID() {
		return nil
	}
	return domain.Errorf(domain.KindForbidden, string(cmd), "only an Admin or the person themselves may %s", cmd)
}

// ExportSubjectData records that a user's data was exported for them (subject access or
// portability): Admins for anyone of the organisation, anyone for themselves; the system
// actor for `arkiv export subject`, with OrganizationID naming the organisation.
type ExportSubjectData struct {
	Meta
	OrganizationID string
	UserID         string
	RequestID      string
	ArchiveSHA256  string
	Records        int
}

// exportSubjectData runs ExportSubjectData.
func (x *executor) exportSubjectData(ctx context.Context, c ExportSubjectData) (Result, error) {
	const op = string(domain.CmdExportSubjectData)
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, err
	}
	return x.recordAccess(ctx, c.Meta, domain.CmdExportSubjectData,
		func(actor) domain.Aggregate { return domain.NewUser(c.UserID) }, nil,
		func(act actor, t domain.Aggregate) (domain.Event, error) {
			if (act.system && c.OrganizationID == "") || (c.OrganizationID != "" && t.OrganizationID() != c.OrganizationID) {
				return nil, domain.E(domain.KindNotFound, op, "user not found")
			}
			if err := selfOrAdmin(act, t, domain.CmdExportSubjectData); err != nil {
				return nil, x.deny(ctx, c.Meta, act, domain.CmdExportSubjectData, t.Stream(), act.org, domain.SpaceRoleNone, domain.ReasonRole)
			}
			if c.RequestID != "" {
				if err := domain.ValidateID("request id", c.RequestID); err != nil {
					return nil, err
				}
			}
			if b, err := hex.DecodeString(c.ArchiveSHA256); err != nil || len(b) != 32 {
				return nil, domain.E(domain.KindInvalid, op, "the archive's SHA-256 must be 64 hex digits")
			}
			return domain.SubjectDataExported{RequestID: c.RequestID, UserID: t.ID(), Exporter: act.id,
				ArchiveSHA256: c.ArchiveSHA256, Records: c.Records, ExportedAt: x.d.Clock.Now().UTC()}, nil
		})
}

// ExportOrganization records that the whole organisation was exported (Admins; the system
// actor for `arkiv export organization`, with OrganizationID naming it).
type ExportOrganization struct {
	Meta
	OrganizationID string
	Events         int64
	ManifestSHA256 string
}

// exportOrganization runs ExportOrganization.
func (x *executor) exportOrganization(ctx context.Context, c ExportOrganization) (Result, error) {
	return x.recordAccess(ctx, c.Meta, domain.CmdExportOrganization, operatorOrganization(c.OrganizationID), nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			if b, err := hex.DecodeString(c.ManifestSHA256); err != nil || len(b) != 32 {
				return nil, domain.E(domain.KindInvalid, string(domain.CmdExportOrganization), "the manifest's SHA-256 must be 64 hex digits")
			}
			return domain.OrganizationExported{Exporter: act.id, Events: c.Events, ManifestSHA256: c.ManifestSHA256,
				ExportedAt: x.d.Clock.Now().UTC()}, nil
		})
}
