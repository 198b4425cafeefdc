package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// PlaceLegalHold places a legal hold on a space, document, conversation or user of the
// actor's organisation (Admins): while it lasts, retention and erasure of the subject are
// refused.
type PlaceLegalHold struct {
	Meta
	SubjectType domain.SubjectKind
	SubjectID   string
	// Reason is why the subject is held (e.g. the archiving rule and case number).
	Reason string
}

// placeLegalHold runs PlaceLegalHold; Result.ID is the hold's id.
func (x *executor) placeLegalHold(ctx context.Context, c PlaceLegalHold) (Result, error) {
	if !domain.HoldableKind(c.SubjectType) {
		return Result{}, domain.E(domain.KindInvalid, string(domain.CmdPlaceLegalHold),
			"a hold is placed on a space, document, conversation or user")
	}
	if err := domain.ValidateID("subject id", c.SubjectID); err != nil {
		return Result{}, err
	}
	holdID := DerivedID(c.CommandID, "legal-hold")
	var subject erasable
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdPlaceLegalHold,
		target: func(act actor) domain.Aggregate { return domain.NewLegalHolds(act.org) },
		prepare: func(ctx context.Context, act actor) error {
			var err error
			subject, err = x.loadErasable(ctx, act, c.SubjectType, c.SubjectID)
			return err
		},
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.LegalHolds).Place(holdID, domain.Subject{Kind: c.SubjectType, ID: c.SubjectID}, subject.space,
				c.Reason, act.id, x.d.Clock.Now())
		},
	})
	res.ID = holdID
	return res, err
}

// LiftLegalHold ends a legal hold (Admins), with the reason it ends.
type LiftLegalHold struct {
	Meta
	HoldID string
	Reason string
}

// liftLegalHold runs LiftLegalHold; Result.ID is the hold's id.
func (x *executor) liftLegalHold(ctx context.Context, c LiftLegalHold) (Result, error) {
	if err := domain.ValidateID("hold id", c.HoldID); err != nil {
		return Result{}, err
	}
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdLiftLegalHold,
		target: func(act actor) domain.Aggregate { return domain.NewLegalHolds(act.org) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.LegalHolds).Lift(c.HoldID, c.Reason, act.id, x.d.Clock.Now())
		},
	})
	res.ID = c.HoldID
	return res, err
}

// CertifyErasure records the certificate of a completed erasure (the erasure process
// manager, as the system actor).
type CertifyErasure struct {
	Meta
	ErasureID string
	// Certificate is the certificate's canonical JSON, as a signed note when Signed.
	Certificate string
	Signed      bool
}

// certifyErasure runs CertifyErasure.
func (x *executor) certifyErasure(ctx context.Context, c CertifyErasure) (Result, error) {
	if err := domain.ValidateID("erasure id", c.ErasureID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCertifyErasure,
		target: func(act actor) domain.Aggregate { return domain.NewErasure(c.ErasureID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.Erasure).Certify(c.Certificate, c.Signed, x.d.Clock.Now())
		},
	})
}
