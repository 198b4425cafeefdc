package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// API keys.

// APIKeys is the resolver for the apiKeys field: the read model decides whose keys the
// caller sees.
func (r queryResolver) APIKeys(ctx context.Context, first *int, after *string, consistentAt *string) (*readmodels.APIKeyConnection, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	c, err := r.Reads.APIKeysVisibleTo(ctx, p.OrganizationID, p.UserID, pg)
	return &c, err
}

// CreateAPIKey is the resolver for the createApiKey field.
func (r mutationResolver) CreateAPIKey(ctx context.Context, input generated.CreateAPIKeyInput) (*generated.CreateAPIKeyPayload, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	owner := p.UserID
	if input.UserID != nil {
		owner = *input.UserID
	}
	res, err := r.App.CreateAPIKey.Handle(ctx, commands.CreateAPIKey{Meta: m, OwnerKind: domain.KeyOwnerUser, OwnerID: owner})
	if err != nil {
		return nil, err
	}
	if res.Secret == "" {
		return nil, domain.E(domain.KindConflict, "graphql.createApiKey", "the key exists already; its secret cannot be shown again")
	}
	return &generated.CreateAPIKeyPayload{ID: res.KeyID, Secret: res.Secret, Prefix: res.Prefix, Position: position(res.Position)}, nil
}

// RevokeAPIKey is the resolver for the revokeApiKey field.
func (r mutationResolver) RevokeAPIKey(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.RevokeAPIKey, func(m commands.Meta) commands.RevokeAPIKey {
		return commands.RevokeAPIKey{Meta: m, KeyID: id}
	})
}
