package commands

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// SetPassword sets a local account's login and password: any active user for themselves,
// an active Admin of the organisation for another active user of it. Setting one's own needs
// the current password, or a login younger than RecentLogin. An Admin's reset of another
// user's password forces that user to change it at their next login. Either way a
// user.password_set.v1 event records who set whose password (never the password). A user
// without a local account yet has no current password: they set their first one without it.
type SetPassword struct {
	Meta
	// OrganizationID is the caller's organisation (from authentication).
	OrganizationID string
	// UserID is the account's user; empty or the actor means the actor.
	UserID   string
	Login    string
	Password string
	// CurrentPassword is the actor's current password, needed to set their own unless
	// AuthenticatedAt is recent.
	CurrentPassword string
	// AuthenticatedAt is when the actor's password was last checked (a session's login);
	// zero when the credential says nothing of it (API keys, OIDC tokens).
	AuthenticatedAt time.Time
}

// RecentLogin is how recent a login must be for its user to set their own password without
// giving the current one.
const RecentLogin = 5 * time.Minute

// Accounts is the local-account store SetPassword drives (infra/auth): it checks passwords
// against the organisation's policy and verifies current passwords, counting wrong ones as
// failed logins.
type Accounts interface {
	// SetPassword sets a user's own password.
	SetPassword(ctx context.Context, orgID, userID, login, password string) error
	// ResetPassword sets another user's password, to be changed at their next login.
	ResetPassword(ctx context.Context, orgID, userID, login, password string) error
	// HasPassword reports whether a user has a local account already.
	HasPassword(ctx context.Context, orgID, userID string) (bool, error)
	// CheckPassword verifies a user's current password (domain.KindForbidden when wrong).
	CheckPassword(ctx context.Context, orgID, userID, password string) error
}

// setPassword runs SetPassword; the result's ID is the user whose password was set.
func (x *executor) setPassword(ctx context.Context, c SetPassword) (Result, error) {
	const op = string(domain.CmdSetPassword)
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
	// A deactivated actor is refused here, from the log, with an access-denied event.
	act, err := x.loadActor(ctx, c.Meta, domain.CmdSetPassword)
	if err != nil {
		return Result{}, err
	}
	if act.system || act.org != c.OrganizationID {
		return Result{}, domain.E(domain.KindForbidden, op, "not allowed to "+op)
	}
	target := domain.NewUser(act.id)
	if c.UserID != "" && c.UserID != act.id {
		if domain.ValidateID("user id", c.UserID) != nil {
			return Result{}, domain.E(domain.KindNotFound, op, "user not found")
		}
		target = domain.NewUser(c.UserID)
		if act.role != domain.OrgRoleAdmin {
			return Result{}, x.deny(ctx, c.Meta, act, domain.CmdSetPassword, target.Stream(), act.org, domain.SpaceRoleNone, domain.ReasonRole)
		}
		if err := x.loadSameOrg(ctx, act, target, "user"); err != nil {
			return Result{}, err
		}
		if !target.Active() {
			return Result{}, domain.E(domain.KindNotFound, op, "user not found")
		}
	}
	self := target.ID() == act.id
	if self {
		recent := !c.AuthenticatedAt.IsZero() && x.d.Clock.Now().Sub(c.AuthenticatedAt) < RecentLogin
		var has bool
		if has, err = accounts.HasPassword(ctx, c.OrganizationID, act.id); err != nil {
			return Result{}, err
		}
		if has && !recent {
			if c.CurrentPassword == "" {
				return Result{}, domain.E(domain.KindForbidden, op,
					"the current password is required (or a login less than five minutes ago)")
			}
			if err := accounts.CheckPassword(ctx, c.OrganizationID, act.id, c.CurrentPassword); err != nil {
				return Result{}, err
			}
		}
		err = accounts.SetPassword(ctx, c.OrganizationID, act.id, c.Login, c.Password)
	} else {
		err = accounts.ResetPassword(ctx, c.OrganizationID, target.ID(), c.Login, c.Password)
	}
	if err != nil {
		return Result{}, err
	}
	// The password is set; the event records it. A failure to record is reported, so the
	// caller knows the audit trail lacks it.
	return retryStale(ctx, op, maxAttempts, func() (Result, error) {
		u := domain.NewUser(target.ID())
		recs, err := x.load(ctx, u)
		if err != nil {
			return Result{}, err
		}
		if pos, ok := applied(recs, c.CommandID, u.Stream()); ok {
			return Result{ID: u.ID(), Position: pos}, nil
		}
		if err := u.RecordPasswordSet(act.id, x.d.Clock.Now()); err != nil {
			return Result{}, err
		}
		pos, err := x.append(ctx, c.Meta, act.id, u, recs)
		if err != nil {
			return Result{}, staleOr(err)
		}
		return Result{ID: u.ID(), Position: pos}, nil
	})
}
