package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// Bootstrap creates an organisation, its first Admin and an API key for that Admin. It has
// no actor: it is the operator's command (`arkiv bootstrap`, `arkiv dev` on an empty store),
// and the events it records name the new Admin as their actor.
type Bootstrap struct {
	// CommandID identifies the command; the ids of the organisation, the Admin and the key
	// derive from it.
	CommandID        string
	OrganizationName string
	AdminEmail       string
	AdminName        string
	// Settings are the organisation's initial settings; nil means the defaults.
	Settings *domain.OrganizationSettings
}

// CommandMeta returns the command's metadata (it has no actor).
func (c Bootstrap) CommandMeta() Meta { return Meta{CommandID: c.CommandID} }

// BootstrapResult is what Bootstrap returns. APIKey is the secret, shown only this once.
type BootstrapResult struct {
	OrganizationID string `json:"organizationId"`
	AdminUserID    string `json:"adminUserId"`
	APIKeyID       string `json:"apiKeyId"`
	APIKey         string `json:"apiKey"`
	Position       uint64 `json:"position"`
}

// bootstrap runs Bootstrap. Each of its three streams is appended with NoStream as the
// expected revision, so it never touches an existing organisation. A retry completes a
// partly applied bootstrap; a retry after the key was stored fails with KindConflict, since
// the secret cannot be shown again.
func (x *executor) bootstrap(ctx context.Context, c Bootstrap) (BootstrapResult, error) {
	const op = "bootstrap"
	m := Meta{CommandID: c.CommandID}
	if err := checkMeta(m); err != nil {
		return BootstrapResult{}, err
	}
	settings := domain.DefaultOrganizationSettings()
	if c.Settings != nil {
		settings = *c.Settings
	}
	orgID, userID, keyID := DerivedID(c.CommandID, "org"), DerivedID(c.CommandID, "user"), DerivedID(c.CommandID, "apikey")
	m.ActorID = userID
	org := domain.NewOrganization(orgID)
	user := domain.NewUser(userID)
	// Validate everything before the first append.
	if err := domain.NewOrganization(orgID).Create(c.OrganizationName, settings); err != nil {
		return BootstrapResult{}, err
	}
	if err := domain.NewUser(userID).Register(orgID, c.AdminEmail, c.AdminName, domain.OrgRoleAdmin); err != nil {
		return BootstrapResult{}, err
	}
	if _, err := x.createOnce(ctx, m, org, func() error { return org.Create(c.OrganizationName, settings) }); err != nil {
		return BootstrapResult{}, err
	}
	if err := x.reserveEmail(ctx, m, userID, orgID, userID, c.AdminEmail); err != nil {
		return BootstrapResult{}, err
	}
	if _, err := x.createOnce(ctx, m, user, func() error {
		return user.Register(orgID, c.AdminEmail, c.AdminName, domain.OrgRoleAdmin)
	}); err != nil {
		return BootstrapResult{}, err
	}
	secret, prefix, hash, err := domain.GenerateAPIKey(x.d.Random)
	if err != nil {
		return BootstrapResult{}, err
	}
	key := domain.NewAPIKey(keyID)
	pos, err := x.createOnce(ctx, m, key, func() error {
		return key.Create(orgID, domain.KeyOwnerUser, userID, prefix, hash, userID)
	})
	if err != nil {
		return BootstrapResult{}, err
	}
	if pos == 0 {
		return BootstrapResult{}, domain.E(domain.KindConflict, op, "bootstrap already completed: its API key cannot be shown again")
	}
	return BootstrapResult{OrganizationID: orgID, AdminUserID: userID, APIKeyID: keyID, APIKey: secret, Position: pos}, nil
}

// createOnce appends the events create records on a to a's new stream, unless this command
// already did (then it returns position 0). It loads a first, so an existing stream of
// another command is a KindConflict from create.
func (x *executor) createOnce(ctx context.Context, m Meta, a domain.Aggregate, create func() error) (uint64, error) {
	recs, err := x.load(ctx, a)
	if err != nil {
		return 0, err
	}
	if _, ok := applied(recs, m.CommandID, a.Stream()); ok {
		return 0, nil
	}
	if err := create(); err != nil {
		return 0, err
	}
	return x.append(ctx, m, m.ActorID, a, recs)
}
