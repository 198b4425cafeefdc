package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Users and sessions: me, login, logout, setPassword and the organisation's user
// administration.

// visible hides an erased user: the API does not show them at all.
func visible(u *readmodels.User) *readmodels.User {
	if u == nil || u.Erased {
		return nil
	}
	return u
}

// Me is the resolver for the me field.
func (r queryResolver) Me(ctx context.Context, consistentAt *string) (*readmodels.User, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	u, err := r.Reads.User(ctx, p.OrganizationID, p.UserID)
	if err != nil {
		return nil, err
	}
	if u = visible(u); u == nil {
		return nil, domain.E(domain.KindNotFound, "graphql.me", "user not found")
	}
	return u, nil
}

// Login is the resolver for the login field.
func (r mutationResolver) Login(ctx context.Context, input generated.LoginInput) (*generated.LoginPayload, error) {
	token, idle, err := r.Sessions.Login(ctx, input.OrganizationID, input.Login, input.Password, requestInfoFrom(ctx).remoteIP)
	if err != nil {
		return nil, err
	}
	p, err := r.Sessions.AuthenticateToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return &generated.LoginPayload{ID: p.UserID, Token: token, IdleTimeoutSeconds: int(idle.Seconds()),
		PasswordChangeRequired: p.PasswordChangeRequired}, nil
}

// Logout is the resolver for the logout field.
func (r mutationResolver) Logout(ctx context.Context) (*generated.LogoutPayload, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Method != auth.MethodSession {
		return nil, domain.E(domain.KindInvalid, "graphql.logout", "only a session can log out")
	}
	if err := r.recordLogout(ctx); err != nil {
		return nil, err
	}
	if err := r.Sessions.Logout(ctx, requestInfoFrom(ctx).token); err != nil {
		return nil, err
	}
	return &generated.LogoutPayload{ID: p.UserID}, nil
}

// SetPassword is the resolver for the setPassword field; the command decides who may set
// whose password.
func (r mutationResolver) SetPassword(ctx context.Context, input generated.SetPasswordInput) (*generated.SetPasswordPayload, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	res, err := r.App.SetPassword.Handle(ctx, commands.SetPassword{Meta: m, OrganizationID: p.OrganizationID,
		UserID: deref(input.UserID), Login: input.Login, Password: input.Password,
		CurrentPassword: deref(input.CurrentPassword), AuthenticatedAt: p.AuthenticatedAt})
	if err != nil {
		return nil, err
	}
	at := position(res.Position)
	return &generated.SetPasswordPayload{ID: res.ID, Position: &at}, nil
}

// InviteUser is the resolver for the inviteUser field.
func (r mutationResolver) InviteUser(ctx context.Context, input generated.InviteUserInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.RegisterUser, func(m commands.Meta) commands.RegisterUser {
		return commands.RegisterUser{Meta: m, Email: input.Email, Name: input.Name, Role: input.Role}
	})
}

// GrantOrgRole is the resolver for the grantOrgRole field.
func (r mutationResolver) GrantOrgRole(ctx context.Context, input generated.GrantOrgRoleInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.ChangeUserRole, func(m commands.Meta) commands.ChangeUserRole {
		return commands.ChangeUserRole{Meta: m, UserID: input.UserID, Role: input.Role}
	})
}

// RevokeOrgRole is the resolver for the revokeOrgRole field.
func (r mutationResolver) RevokeOrgRole(ctx context.Context, input generated.RevokeOrgRoleInput) (*generated.MutationResult, error) {
	const op = "graphql.revokeOrgRole"
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if input.Role == domain.OrgRoleUser {
		return nil, domain.E(domain.KindInvalid, op, "every user has the USER role; deactivate the user instead")
	}
	if domain.ValidateID("user id", input.UserID) != nil {
		return nil, domain.E(domain.KindInvalid, op, "user id must be a lower-case UUID")
	}
	// A user the caller's organisation does not know is left to the command, which refuses
	// it (and records the refusal) like any other.
	role, active, err := r.Reads.OrgRole(ctx, p.OrganizationID, input.UserID)
	if err != nil {
		return nil, err
	}
	if active && role != input.Role {
		return nil, domain.E(domain.KindConflict, op, "the user does not have this role")
	}
	return run(ctx, r.App.ChangeUserRole, func(m commands.Meta) commands.ChangeUserRole {
		return commands.ChangeUserRole{Meta: m, UserID: input.UserID, Role: domain.OrgRoleUser}
	})
}

// DeactivateUser is the resolver for the deactivateUser field.
func (r mutationResolver) DeactivateUser(ctx context.Context, input generated.DeactivateUserInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.DeactivateUser, func(m commands.Meta) commands.DeactivateUser {
		return commands.DeactivateUser{Meta: m, UserID: input.UserID, Erase: input.Erase != nil && *input.Erase,
			LegalBasis: deref(input.LegalBasis)}
	})
}
