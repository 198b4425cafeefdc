package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// SetPassword sets a local account's login and password: any user for themselves, an
// Admin of the organisation for another active user of it.
type SetPassword struct {
	Meta
	// OrganizationID is the caller's organisation (from authentication).
	OrganizationID string
	// UserID is the account's user; empty or the actor means the actor.
	UserID   string
	Login    string
	Password string
}

// Accounts is what SetPassword needs: the users' current organisation roles (the users read
// model; a user unknown in the organisation, deactivated or erased is not active) and the
// local-account store, which checks the password against the organisation's policy
// (infra/auth).
type Accounts interface {
	OrgRole(ctx context.Context, orgID, userID string) (role domain.OrgRole, active bool, err error)
	SetPassword(ctx context.Context, orgID, userID, login, password string) error
}

// setPassword runs SetPassword; the result's ID is the user whose password was set.
func (x *executor) setPassword(ctx context.Context, c SetPassword) (Result, error) {
	const op = "commands.SetPassword"
	if err := checkMeta(c.Meta); err != nil {
		return Result{}, err
	}
	accounts := x.d.Accounts
	if accounts == nil {
		return Result{}, domain.E(domain.KindUnavailable, op, "local accounts are not available")
	}
	if c.OrganizationID == "" || c.ActorID == "" {
		return Result{}, domain.E(domain.KindUnauthenticated, op, "authentication required")
	}
	target := c.ActorID
	if c.UserID != "" && c.UserID != c.ActorID {
		target = c.UserID
		role, active, err := accounts.OrgRole(ctx, c.OrganizationID, c.ActorID)
		if err != nil {
			return Result{}, err
		}
		if !active || role != domain.OrgRoleAdmin {
			return Result{}, domain.E(domain.KindForbidden, op, "only Admins may set another user's password")
		}
		if _, active, err := accounts.OrgRole(ctx, c.OrganizationID, target); err != nil {
			return Result{}, err
		} else if !active {
			return Result{}, domain.E(domain.KindNotFound, op, "user not found")
		}
	}
	if err := accounts.SetPassword(ctx, c.OrganizationID, target, c.Login, c.Password); err != nil {
		return Result{}, err
	}
	return Result{ID: target}, nil
}
