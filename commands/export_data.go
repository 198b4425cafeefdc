package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ExportData records that the actor exports a data subject's data, e.g. for a subject
// access request (Admins). The subject must belong to the actor's organisation.
type ExportData struct {
	Meta
	SubjectType   domain.SubjectKind
	SubjectID     string
	Format        string
	Justification string
}

// exportData runs ExportData.
func (x *executor) exportData(ctx context.Context, c ExportData) (Result, error) {
	if err := domain.ValidateID("subject id", c.SubjectID); err != nil {
		return Result{}, err
	}
	t, err := subjectAggregate(c.SubjectType, c.SubjectID)
	if err != nil {
		return Result{}, err
	}
	return x.recordAccess(ctx, c.Meta, domain.CmdExportData,
		func(actor) domain.Aggregate { return t }, nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			if err := domain.ValidateJustification(c.Justification); err != nil {
				return nil, err
			}
			if err := domain.ValidateExportFormat(c.Format); err != nil {
				return nil, err
			}
			return domain.DataExported{Exporter: act.id, Justification: domain.Seal(c.Justification, domain.OrganizationSubject(act.org)),
				SubjectType: c.SubjectType, SubjectID: c.SubjectID, Format: c.Format, ExportedAt: x.d.Clock.Now().UTC()}, nil
		})
}

// subjectAggregate returns the empty aggregate that holds an erasable subject, so its
// organisation can be checked.
func subjectAggregate(kind domain.SubjectKind, id string) (domain.Aggregate, error) {
	switch kind {
	case domain.SubjectUser:
		return domain.NewUser(id), nil
	case domain.SubjectDocument:
		return domain.NewDocument(id), nil
	case domain.SubjectConversation:
		return domain.NewConversation(id), nil
	case domain.SubjectSpace:
		return domain.NewSpace(id), nil
	case domain.SubjectOrganization:
		return domain.NewOrganization(id), nil
	}
	return nil, domain.E(domain.KindInvalid, "subject", "subject type must be user, document, conversation, space or organization")
}
