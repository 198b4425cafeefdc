package graphql

import (
	"context"
	"net/url"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// The organisation: its settings and identity providers.

// Organization is the resolver for the organization field.
func (r queryResolver) Organization(ctx context.Context, consistentAt *string) (*readmodels.Organization, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	o, err := r.Reads.Organization(ctx, p.OrganizationID)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, domain.E(domain.KindNotFound, "graphql.organization", "organisation not found")
	}
	return o, nil
}

// IdentityProviders is the resolver for the identityProviders field.
func (r organizationResolver) IdentityProviders(ctx context.Context, obj *readmodels.Organization) ([]readmodels.IdentityProvider, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return r.Reads.IdentityProviders(ctx, p.OrganizationID)
}

// AuditRetentionMode is the resolver for the auditRetentionMode field: a mode other than
// the fixed ones is CUSTOM.
func (organizationSettingsResolver) AuditRetentionMode(_ context.Context, obj *domain.OrganizationSettings) (string, error) {
	switch m := obj.AuditRetention.Mode; m {
	case domain.AuditRetention30, domain.AuditRetention90:
		return m, nil
	}
	return domain.AuditRetentionCustom, nil
}

// AuditRetentionDays is the resolver for the auditRetentionDays field.
func (organizationSettingsResolver) AuditRetentionDays(_ context.Context, obj *domain.OrganizationSettings) (int, error) {
	return obj.AuditRetention.Days, nil
}

// PasswordMinLength is the resolver for the passwordMinLength field.
func (organizationSettingsResolver) PasswordMinLength(_ context.Context, obj *domain.OrganizationSettings) (int, error) {
	return obj.Password.MinLength, nil
}

// UpdateOrganizationSettings is the resolver for the updateOrganizationSettings field; the
// domain validates the settings.
func (r mutationResolver) UpdateOrganizationSettings(ctx context.Context, input domain.OrganizationSettings) (*generated.MutationResult, error) {
	return run(ctx, r.App.ChangeOrganizationSettings, func(m commands.Meta) commands.ChangeOrganizationSettings {
		return commands.ChangeOrganizationSettings{Meta: m, Settings: input}
	})
}

// ConfigureIdentityProvider is the resolver for the configureIdentityProvider field.
func (r mutationResolver) ConfigureIdentityProvider(ctx context.Context, input generated.ConfigureIdentityProviderInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.ConfigureIdentityProvider, func(m commands.Meta) commands.ConfigureIdentityProvider {
		groups := make([]domain.GroupRole, len(input.GroupRoles))
		for i, g := range input.GroupRoles {
			groups[i] = domain.GroupRole{Group: g.Group, OrgRole: valueOf(g.OrgRole), SpaceID: deref(g.SpaceID), SpaceRole: valueOf(g.SpaceRole)}
		}
		return commands.ConfigureIdentityProvider{Meta: m, Issuer: input.Issuer, Audience: input.Audience,
			AllowedAMR: input.AllowedAmr, AcceptedACR: input.AcceptedAcr, ProofToken: deref(input.ProofToken),
			DisplayName: deref(input.DisplayName), ClientSecret: deref(input.ClientSecret),
			JustInTime: valueOf(input.JustInTime), GroupRoles: groups}
	})
}

// SignInProviders is the resolver for the signInProviders field: open to anyone, it names
// no issuer.
func (r queryResolver) SignInProviders(ctx context.Context, organizationID string) ([]generated.SignInProvider, error) {
	ps, err := r.Sessions.SignInProviders(ctx, organizationID)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "graphql.signInProviders", err, "sign-in providers cannot be read right now")
	}
	out := make([]generated.SignInProvider, len(ps))
	for i, p := range ps {
		out[i] = generated.SignInProvider{ID: p.ID, DisplayName: p.DisplayName,
			LoginPath: "/auth/" + url.PathEscape(organizationID) + "/login?provider=" + p.ID}
	}
	return out, nil
}

// RemoveIdentityProvider is the resolver for the removeIdentityProvider field.
func (r mutationResolver) RemoveIdentityProvider(ctx context.Context, input generated.RemoveIdentityProviderInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.RemoveIdentityProvider, func(m commands.Meta) commands.RemoveIdentityProvider {
		return commands.RemoveIdentityProvider{Meta: m, Issuer: input.Issuer, Audience: input.Audience}
	})
}

// valueOf returns *p, or the zero value for nil.
func valueOf[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
