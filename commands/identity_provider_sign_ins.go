package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ProviderSignIn is an identity provider of an organisation with its sign-in settings (the
// client secret decrypted).
type ProviderSignIn struct {
	domain.IdentityProvider
	domain.SignIn
}

// IdentityProviderSignIns returns the identity providers of the organisation that people
// sign in through, in the order they were configured, read from the organisation's stream
// (so the client secrets come decrypted, and a provider is usable as soon as it is
// configured). Authentication calls it for every sign-in; it authorizes nothing and records
// nothing, and an unknown organisation has none.
func (a *App) IdentityProviderSignIns(ctx context.Context, orgID string) ([]ProviderSignIn, error) {
	if domain.ValidateID("organisation id", orgID) != nil {
		return nil, nil
	}
	o := domain.NewOrganization(orgID)
	if _, err := a.x.load(ctx, o); err != nil {
		return nil, err
	}
	var out []ProviderSignIn
	for _, p := range o.IdentityProviders() {
		if s, ok := o.SignInOf(p.Issuer, p.Audience); ok {
			out = append(out, ProviderSignIn{IdentityProvider: p, SignIn: s})
		}
	}
	return out, nil
}
