package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
)

// SCIM provisioning tokens.

// ScimTokens is the resolver for the scimTokens field.
func (r queryResolver) ScimTokens(ctx context.Context) ([]generated.ScimToken, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := r.App.ScimTokens(ctx, m)
	if err != nil {
		return nil, err
	}
	out := make([]generated.ScimToken, len(ts))
	for i, t := range ts {
		out[i] = generated.ScimToken{ID: t.ID, Name: t.Name, Prefix: t.Prefix, IdentityProviderIssuer: optional(t.Issuer),
			IdentityProviderAudience: optional(t.Audience), CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
		if t.Revoked {
			at := t.RevokedAt
			out[i].RevokedAt = &at
		}
	}
	return out, nil
}

// CreateScimToken is the resolver for the createScimToken field.
func (r mutationResolver) CreateScimToken(ctx context.Context, input generated.CreateScimTokenInput) (*generated.CreateScimTokenPayload, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	res, err := r.App.CreateScimToken.Handle(ctx, commands.CreateScimToken{Meta: m, Name: deref(input.Name),
		Issuer: deref(input.IdentityProviderIssuer), Audience: deref(input.IdentityProviderAudience)})
	if err != nil {
		return nil, err
	}
	if res.Secret == "" {
		return nil, domain.E(domain.KindConflict, "graphql.createScimToken", "the token exists already; its secret cannot be shown again")
	}
	return &generated.CreateScimTokenPayload{ID: res.TokenID, Secret: res.Secret, Prefix: res.Prefix, Position: position(res.Position)}, nil
}

// RevokeScimToken is the resolver for the revokeScimToken field.
func (r mutationResolver) RevokeScimToken(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.RevokeScimToken, func(m commands.Meta) commands.RevokeScimToken {
		return commands.RevokeScimToken{Meta: m, TokenID: id}
	})
}
