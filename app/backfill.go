package app

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// BackfillReservations reserves, organisation by organisation, the identity-provider pairs
// and e-mail addresses recorded before reservation streams existed (the
// BackfillReservations command, as the system actor): a pair for the organisation the
// routing table sends its tokens to, an address for the first user registered with it.
// What is reserved already is left alone, so it runs at every start.
func (p *Platform) BackfillReservations(ctx context.Context) (commands.BackfillResult, error) {
	var total commands.BackfillResult
	pairs, err := p.AuthPG.OIDCPairs(ctx)
	if err != nil {
		return total, err
	}
	users, err := p.Reads.UsersByRegistration(ctx)
	if err != nil {
		return total, err
	}
	byOrg := map[string]*commands.BackfillReservations{}
	var orgs []string
	of := func(org string) *commands.BackfillReservations {
		c, ok := byOrg[org]
		if !ok {
			c = &commands.BackfillReservations{OrganizationID: org}
			byOrg[org] = c
			orgs = append(orgs, org)
		}
		return c
	}
	for _, b := range pairs {
		c := of(b.OrganizationID)
		c.Pairs = append(c.Pairs, [2]string{b.Provider.Issuer, b.Provider.Audience})
	}
	for _, u := range users {
		c := of(u.OrganizationID)
		c.UserIDs = append(c.UserIDs, u.UserID)
	}
	for _, org := range orgs {
		c := byOrg[org]
		id := newID()
		c.Meta = commands.Meta{CommandID: id, ActorID: domain.SystemActor, CorrelationID: id}
		r, err := p.App.BackfillReservations.Handle(ctx, *c)
		if err != nil && !domain.Is(domain.KindNotFound, err) {
			return total, err
		}
		total.Pairs, total.Emails, total.Conflicts = total.Pairs+r.Pairs, total.Emails+r.Emails, total.Conflicts+r.Conflicts
	}
	return total, nil
}
