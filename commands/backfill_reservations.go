package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// BackfillReservations gives the reservations that make identity providers and e-mail
// addresses one organisation's, and one user's, to pairs and addresses recorded before the
// reservation streams existed. Only the system actor runs it (at start-up). For each pair
// (issuer, audience) that routes to the organisation (Pairs, from authentication's routing
// table, where the first organisation to configure a pair holds it) and that its stream
// still configures, an unreserved pair is claimed for it; for each user (UserIDs, in
// registration order), the address of their registration is reserved to them unless
// another user holds it. What is reserved already, to anyone, is left alone, so running it
// again appends nothing.
type BackfillReservations struct {
	Meta
	OrganizationID string
	Pairs          [][2]string
	UserIDs        []string
}

// BackfillResult counts what a backfill reserved, and what it found held by another.
type BackfillResult struct {
	Pairs, Emails, Conflicts int
}

// backfillReservations runs BackfillReservations.
func (x *executor) backfillReservations(ctx context.Context, c BackfillReservations) (BackfillResult, error) {
	const op = string(domain.CmdBackfillReservations)
	var out BackfillResult
	if err := domain.ValidateID("organisation id", c.OrganizationID); err != nil {
		return out, err
	}
	act, err := x.loadActor(ctx, c.Meta, domain.CmdBackfillReservations)
	if err != nil {
		return out, err
	}
	if !act.system {
		return out, domain.E(domain.KindForbidden, op, "only Arkiv itself backfills reservations")
	}
	o := domain.NewOrganization(c.OrganizationID)
	if _, err := x.load(ctx, o); err != nil {
		return out, err
	}
	if o.OrganizationID() == "" {
		return out, domain.E(domain.KindNotFound, op, "organisation not found")
	}
	act.org = o.ID()
	for _, p := range c.Pairs {
		if !hasProvider(o, p[0], p[1]) {
			continue
		}
		s, _ := o.SignInOf(p[0], p[1])
		pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewIdentityProviderClaim(reservedIssuer(p[0], s), p[1]) },
			func(a domain.Aggregate) error {
				cl := a.(*domain.IdentityProviderClaim)
				if cl.Holder() != "" {
					if cl.Holder() != act.org {
						out.Conflicts++
					}
					return nil
				}
				return cl.Claim(act.org, reservedIssuer(p[0], s), p[1])
			})
		if err != nil {
			return out, err
		}
		if pos > 0 {
			out.Pairs++
		}
	}
	for _, id := range c.UserIDs {
		email, err := x.registeredEmail(ctx, act.org, id)
		if err != nil {
			return out, err
		}
		if email == "" {
			continue
		}
		pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewEmailReservation(act.org, email) },
			func(a domain.Aggregate) error {
				r := a.(*domain.EmailReservation)
				if r.Holder() != "" {
					if r.Holder() != id {
						out.Conflicts++
					}
					return nil
				}
				return r.Reserve(act.org, id)
			})
		if err != nil {
			return out, err
		}
		if pos > 0 {
			out.Emails++
		}
	}
	return out, nil
}

// registeredEmail returns the normalised address a user of org registered with, empty for
// an unknown user, one of another organisation or one whose address is erased.
func (x *executor) registeredEmail(ctx context.Context, org, userID string) (string, error) {
	if domain.ValidateID("user id", userID) != nil {
		return "", nil
	}
	recs, _, err := x.d.Store.Load(ctx, domain.StreamPrefixUser+userID)
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		if r.Type != (domain.UserRegistered{}).EventName() {
			continue
		}
		e, err := x.decode(ctx, r)
		if err != nil {
			return "", err
		}
		reg := e.(domain.UserRegistered)
		if reg.OrganizationID != org || reg.Email.Redacted {
			return "", nil
		}
		mail, err := domain.NewEmail(reg.Email.Plain)
		if err != nil {
			return "", nil
		}
		return mail, nil
	}
	return "", nil
}
