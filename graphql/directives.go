package graphql

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
)

// Roles tells the current organisation role of a user, from the users read model. A user
// who is unknown in the organisation or deactivated has no role (active false).
type Roles interface {
	OrgRole(ctx context.Context, orgID, userID string) (role domain.OrgRole, active bool, err error)
}

// Directives returns the implementations of @authenticated and @hasOrgRole. Both check and
// call next; the commands behind mutations check again against the RBAC table. A caller
// whose organisation role @hasOrgRole refuses is recorded through app's RecordDenial
// (access.denied.v1), like a refusal inside a command; app may be nil in tests that do
// not audit.
func Directives(roles Roles, app *commands.App) generated.DirectiveRoot {
	return generated.DirectiveRoot{
		Authenticated: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			if _, err := caller(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		HasOrgRole: func(ctx context.Context, _ any, next graphql.Resolver, allowed []domain.OrgRole) (any, error) {
			const op = "graphql.hasOrgRole"
			p, err := userCaller(ctx)
			if err != nil {
				return nil, err
			}
			role, active, err := roleOf(ctx, roles, p.OrganizationID, p.UserID)
			if err != nil {
				return nil, err
			}
			if !active {
				return nil, domain.E(domain.KindUnauthenticated, op, "user is not active")
			}
			if slices.Contains(allowed, role) {
				return next(ctx)
			}
			recordDenial(ctx, app, p.UserID)
			return nil, domain.E(domain.KindForbidden, op, "your organisation role does not permit this operation")
		},
	}
}

// recordDenial appends the refusal of the field being resolved to the organisation's access
// log. The caller is refused whether or not that succeeds; the command logs a failure.
func recordDenial(ctx context.Context, app *commands.App, userID string) {
	if app == nil {
		return
	}
	operation := "Query.unknown"
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil {
		operation = fc.Object + "." + fc.Field.Name
	}
	id := uuid.NewString()
	_, _ = app.RecordDenial.Handle(ctx, commands.RecordDenial{
		Meta: commands.Meta{CommandID: id, ActorID: userID, CorrelationID: id}, Operation: operation})
}

// roleOf looks the caller's role up once per request.
func roleOf(ctx context.Context, roles Roles, orgID, userID string) (domain.OrgRole, bool, error) {
	if c := requestCacheFrom(ctx); c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.roleKnown {
			return c.role, c.active, nil
		}
		role, active, err := roles.OrgRole(ctx, orgID, userID)
		if err != nil {
			return "", false, err
		}
		c.role, c.active, c.roleKnown = role, active, true
		return role, active, nil
	}
	return roles.OrgRole(ctx, orgID, userID)
}
