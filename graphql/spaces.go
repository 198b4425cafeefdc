package graphql

import (
	"context"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Spaces, their members and who can access what.

// member reports whether the caller is a member of a live space of their organisation.
// Spaces of other organisations and spaces the caller is not a member of are invisible.
func (r *Resolver) member(ctx context.Context, p auth.Principal, spaceID string) (bool, error) {
	if domain.ValidateID("space id", spaceID) != nil {
		return false, domain.E(domain.KindInvalid, "graphql.space", "space id must be a lower-case UUID")
	}
	role, err := r.Reads.SpaceRole(ctx, p.OrganizationID, spaceID, p.UserID)
	if err != nil {
		return false, err
	}
	return role != domain.SpaceRoleNone, nil
}

// Spaces is the resolver for the spaces field.
func (r queryResolver) Spaces(ctx context.Context, first *int, after *string, consistentAt *string) (*readmodels.SpaceConnection, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 20)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	c, err := r.Reads.Spaces(ctx, p.OrganizationID, p.UserID, pg)
	return &c, err
}

// Space is the resolver for the space field.
func (r queryResolver) Space(ctx context.Context, id string, consistentAt *string, asOf *time.Time) (*readmodels.MemberSpace, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	if domain.ValidateID("space id", id) != nil {
		return nil, domain.E(domain.KindInvalid, "graphql.space", "space id must be a lower-case UUID")
	}
	if asOf != nil {
		return r.spaceAsOf(ctx, id, *asOf)
	}
	return r.Reads.SpaceOfMember(ctx, p.OrganizationID, id, p.UserID)
}

// Members is the resolver for the members field. The members of the spaces of a list are
// read in one batch (the request's loader); a single space, the space(id) query's, needs no
// batching and reads its members at once.
func (r spaceResolver) Members(ctx context.Context, obj *readmodels.MemberSpace) ([]readmodels.SpaceMember, error) {
	if obj.AsOfMembers != nil {
		return r.asOfMembers(ctx, obj.AsOfMembers)
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Parent != nil && fc.Parent.Object == "Query" {
		p, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		ms, err := r.Reads.Members(ctx, p.OrganizationID, []string{obj.ID})
		if err != nil {
			return nil, err
		}
		return ms[0], nil
	}
	return membersLoader(ctx, r.Resolver, obj.ID)
}

// WhoCanAccess is the resolver for the whoCanAccess field.
func (r queryResolver) WhoCanAccess(ctx context.Context, spaceID string, consistentAt *string, asOf *time.Time) ([]readmodels.Access, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	if asOf != nil {
		return r.accessAsOf(ctx, domain.HistorySpaceAccess, spaceID, *asOf)
	}
	if err := r.recordAccessQuery(ctx, spaceID, ""); err != nil {
		return nil, err
	}
	return r.Reads.AccessToSpace(ctx, p.OrganizationID, spaceID)
}

// AccessOf is the resolver for the accessOf field.
func (r queryResolver) AccessOf(ctx context.Context, userID string, consistentAt *string, asOf *time.Time) ([]readmodels.Access, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	if asOf != nil {
		return r.accessAsOf(ctx, domain.HistoryUserAccess, userID, *asOf)
	}
	if err := r.recordAccessQuery(ctx, "", userID); err != nil {
		return nil, err
	}
	return r.Reads.AccessOfUser(ctx, p.OrganizationID, userID)
}

// User is the resolver for Access.user.
func (r accessResolver) User(ctx context.Context, obj *readmodels.Access) (*readmodels.User, error) {
	return userLoader(ctx, r.Resolver, obj.UserID)
}

// CreateSpace is the resolver for the createSpace field.
func (r mutationResolver) CreateSpace(ctx context.Context, input generated.CreateSpaceInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.CreateSpace, func(m commands.Meta) commands.CreateSpace {
		return commands.CreateSpace{Meta: m, Name: input.Name, Classification: domain.Classification(input.Classification)}
	})
}

// AddSpaceMember is the resolver for the addSpaceMember field.
func (r mutationResolver) AddSpaceMember(ctx context.Context, input generated.AddSpaceMemberInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.AddSpaceMember, func(m commands.Meta) commands.AddSpaceMember {
		return commands.AddSpaceMember{Meta: m, SpaceID: input.SpaceID, UserID: input.UserID, Role: input.Role}
	})
}

// ChangeSpaceRole is the resolver for the changeSpaceRole field.
func (r mutationResolver) ChangeSpaceRole(ctx context.Context, input generated.ChangeSpaceRoleInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.ChangeSpaceMemberRole, func(m commands.Meta) commands.ChangeSpaceMemberRole {
		return commands.ChangeSpaceMemberRole{Meta: m, SpaceID: input.SpaceID, UserID: input.UserID, Role: input.Role}
	})
}

// RemoveSpaceMember is the resolver for the removeSpaceMember field.
func (r mutationResolver) RemoveSpaceMember(ctx context.Context, input generated.RemoveSpaceMemberInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.RemoveSpaceMember, func(m commands.Meta) commands.RemoveSpaceMember {
		return commands.RemoveSpaceMember{Meta: m, SpaceID: input.SpaceID, UserID: input.UserID}
	})
}

// EnableSpaceModels is the resolver for the enableSpaceModels field.
func (r mutationResolver) EnableSpaceModels(ctx context.Context, input generated.EnableSpaceModelsInput) (*generated.MutationResult, error) {
	ids := input.Models
	switch {
	case ids != nil && input.ModelIds != nil && !slices.Equal(ids, input.ModelIds):
		return nil, domain.E(domain.KindInvalid, "graphql.enableSpaceModels", "models and modelIds differ; give models only")
	case ids == nil && input.ModelIds == nil:
		return nil, domain.E(domain.KindInvalid, "graphql.enableSpaceModels", "models is required")
	case ids == nil:
		ids = input.ModelIds
	}
	models := make([]domain.ModelID, len(ids))
	for i, id := range ids {
		models[i] = domain.ModelID(id)
	}
	return run(ctx, r.App.EnableSpaceModels, func(m commands.Meta) commands.EnableSpaceModels {
		return commands.EnableSpaceModels{Meta: m, SpaceID: input.SpaceID, Models: models}
	})
}

// DeleteSpace is the resolver for the deleteSpace field.
func (r mutationResolver) DeleteSpace(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.DeleteSpace, func(m commands.Meta) commands.DeleteSpace {
		return commands.DeleteSpace{Meta: m, SpaceID: id}
	})
}
