package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RecordEmbedding checks a call to the external embedding model Model for texts of SpaceID
// against the organisation's model policy (domain.CheckEmbeddingUse) and records it in the
// access log as model.embedding_recorded.v1; only the system actor runs it, for the search
// index and retrieval. With Outcome empty it is the check before the call: it records only
// a refusal (outcome REFUSED, returned as a KindForbidden error) and otherwise returns the
// model's allow-list entry in EmbeddingDecision. With Outcome set (OK or ERROR) it records
// the call made.
type RecordEmbedding struct {
	Meta
	SpaceID    string
	DocumentID string
	Purpose    string
	Model      domain.ModelID
	Texts      int
	Chars      int
	TextSHA256 string
	Outcome    string
	Error      string
}

// EmbeddingDecision is RecordEmbedding's answer: the model's allow-list entry, and the
// organisation the space belongs to.
type EmbeddingDecision struct {
	Model          domain.AllowedModel
	OrganizationID string
	Position       uint64
}

// recordEmbedding runs RecordEmbedding.
func (x *executor) recordEmbedding(ctx context.Context, c RecordEmbedding) (EmbeddingDecision, error) {
	const op = string(domain.CmdRecordEmbedding)
	if err := domain.ValidateID("space id", c.SpaceID); err != nil {
		return EmbeddingDecision{}, err
	}
	if !domain.ValidEmbeddingPurpose(c.Purpose) {
		return EmbeddingDecision{}, domain.E(domain.KindInvalid, op, "purpose must be index or query")
	}
	var dec EmbeddingDecision
	var refusal error
	space := domain.NewSpace(c.SpaceID)
	res, err := x.recordAccess(ctx, c.Meta, domain.CmdRecordEmbedding, func(actor) domain.Aggregate { return space }, nil,
		func(act actor, _ domain.Aggregate) (domain.Event, error) {
			o := domain.NewOrganization(space.OrganizationID())
			if _, err := x.load(ctx, o); err != nil {
				return nil, err
			}
			ev := domain.EmbeddingRecorded{SpaceID: c.SpaceID, DocumentID: c.DocumentID, Purpose: c.Purpose, Model: c.Model,
				Texts: c.Texts, Chars: c.Chars, TextSHA256: c.TextSHA256, Outcome: c.Outcome, Error: c.Error, CalledAt: x.d.Clock.Now().UTC()}
			m, err := domain.CheckEmbeddingUse(o.Settings(), space.Classification(), c.Model)
			dec = EmbeddingDecision{Model: m, OrganizationID: space.OrganizationID()}
			if err != nil {
				refusal = err
				ev.Outcome, ev.Error = domain.OutcomeRefused, domain.PublicMessage(err)
				return ev, nil
			}
			ev.Region = m.Region
			if c.Outcome == "" {
				return nil, errNothingToRecord
			}
			return ev, nil
		})
	switch {
	case refusal != nil && err == nil:
		return EmbeddingDecision{OrganizationID: dec.OrganizationID}, refusal
	case err == errNothingToRecord:
		return dec, nil
	case err != nil:
		return EmbeddingDecision{}, err
	}
	dec.Position = res.Position
	return dec, nil
}

// errNothingToRecord ends recordAccess without an event: the check passed.
var errNothingToRecord = domain.E(domain.KindInternal, string(domain.CmdRecordEmbedding), "nothing to record")
