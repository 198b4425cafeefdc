package commands

import (
	"context"
	"strings"

	"github.com/arkiv/arkiv/domain"
)

// SignInWithIdentityProvider is run by authentication, as the system actor, once an
// identity provider of the organisation has signed a person in (the ID token verified): it
// finds the person's user — the one authentication resolved (UserID), or the one created
// just in time for this identity earlier — or, when the provider allows just-in-time users,
// registers one (which needs a verified e-mail address), and then applies the provider's
// group mapping to Groups (see ApplyDirectoryGroups). Every change is an ordinary event
// whose metadata names the provider as the reason.
type SignInWithIdentityProvider struct {
	Meta
	OrganizationID string
	Issuer         string
	Audience       string
	// Subject is the token's "sub"; Email its verified e-mail address (empty when not
	// verified); Name its "name" claim.
	Subject string
	Email   string
	Name    string
	// UserID is the active user authentication resolved for the identity, empty for none.
	UserID string
	// Groups are the values of the token's "groups" and "roles" claims.
	Groups []string
}

// SignInResult is the signed-in user and whether they were created just now.
type SignInResult struct {
	Result
	Created bool
}

// DirectoryReason is the reason recorded in the metadata of every change an identity
// provider's directory makes.
func DirectoryReason(issuer string) string { return "identity provider " + issuer }

// signInWithIdentityProvider runs SignInWithIdentityProvider; Result.ID is the user's id.
// A person without a user when just-in-time creation is off is KindNotFound.
func (x *executor) signInWithIdentityProvider(ctx context.Context, c SignInWithIdentityProvider) (SignInResult, error) {
	const op = string(domain.CmdSignInWithIdentityProvider)
	if strings.TrimSpace(c.Subject) == "" || len(c.Subject) > 255 {
		return SignInResult{}, domain.E(domain.KindInvalid, op, "the identity's subject must be 1 to 255 characters")
	}
	act, o, signIn, err := x.directoryActor(ctx, c.Meta, domain.CmdSignInWithIdentityProvider, c.OrganizationID, c.Issuer, c.Audience)
	if err != nil {
		return SignInResult{}, err
	}
	m := act.meta
	userID, created := c.UserID, false
	if userID == "" {
		id := domain.DirectoryUserID(o.ID(), c.Issuer, c.Subject)
		u := domain.NewUser(id)
		if _, err := x.load(ctx, u); err != nil {
			return SignInResult{}, err
		}
		switch {
		case u.OrganizationID() == o.ID():
			userID = id
		case u.OrganizationID() != "":
			return SignInResult{}, domain.E(domain.KindNotFound, op, "no user of the organisation has this identity")
		case !signIn.JustInTime:
			return SignInResult{}, domain.E(domain.KindNotFound, op, "no user of the organisation has this identity, and just-in-time users are off")
		default:
			if c.Email == "" {
				return SignInResult{}, domain.E(domain.KindNotFound, op, "a just-in-time user needs a verified e-mail address")
			}
			role := domain.OrgRoleUser
			if r := domain.RolesFromGroups(signIn.GroupRoles, c.Groups); r.OrgManaged {
				role = r.OrgRole
			}
			name := strings.TrimSpace(c.Name)
			if name == "" {
				name = c.Email[:strings.LastIndexByte(c.Email, '@')]
			}
			if _, err := retryStale(ctx, op, maxAttempts, func() (uint64, error) {
				u := domain.NewUser(id)
				recs, err := x.load(ctx, u)
				if err != nil {
					return 0, err
				}
				if pos, ok := applied(recs, m.CommandID, u.Stream()); ok {
					return pos, nil
				}
				if err := u.Register(o.ID(), c.Email, name, role); err != nil {
					return 0, err
				}
				if err := x.reserveEmail(ctx, m, act.id, o.ID(), id, c.Email); err != nil {
					return 0, err
				}
				pos, err := x.append(ctx, m, act.id, u, recs)
				return pos, staleOr(err)
			}); err != nil {
				return SignInResult{}, err
			}
			userID, created = id, true
		}
	}
	pos, err := x.applyDirectory(ctx, act, signIn, userID, c.Groups)
	if err != nil {
		return SignInResult{}, err
	}
	return SignInResult{Result: Result{ID: userID, Position: pos}, Created: created}, nil
}

// ApplyDirectoryGroups applies the group mapping of the organisation's identity provider
// (Issuer, Audience) to a user whose directory groups are Groups: the highest organisation
// role the groups give (a mapping that names organisation roles makes a user in none of
// their groups a User), and in every space the mapping names the highest role the groups
// give there, or no membership. Spaces the mapping does not name, and an organisation role
// it does not manage, are left alone. Only the system actor runs it: at every sign-in
// (SignInWithIdentityProvider) and for directory pushes (SCIM group changes call it with
// the user's groups). Every change is an ordinary event whose metadata names the provider
// as the reason; a change the rules refuse (the last Space Admin) is skipped.
type ApplyDirectoryGroups struct {
	Meta
	OrganizationID string
	Issuer         string
	Audience       string
	UserID         string
	Groups         []string
}

// applyDirectoryGroups runs ApplyDirectoryGroups; Result.ID is the user's id.
func (x *executor) applyDirectoryGroups(ctx context.Context, c ApplyDirectoryGroups) (Result, error) {
	act, _, signIn, err := x.directoryActor(ctx, c.Meta, domain.CmdApplyDirectoryGroups, c.OrganizationID, c.Issuer, c.Audience)
	if err != nil {
		return Result{}, err
	}
	pos, err := x.applyDirectory(ctx, act, signIn, c.UserID, c.Groups)
	return Result{ID: c.UserID, Position: pos}, err
}

// directoryActor loads the system actor for a directory command in org, with the
// provider's reason in its Meta, and the provider's sign-in settings.
func (x *executor) directoryActor(ctx context.Context, m Meta, cmd domain.Command, org, issuer, audience string) (actor, *domain.Organization, domain.SignIn, error) {
	op := string(cmd)
	if err := domain.ValidateID("organisation id", org); err != nil {
		return actor{}, nil, domain.SignIn{}, err
	}
	act, err := x.loadActor(ctx, m, cmd)
	if err != nil {
		return actor{}, nil, domain.SignIn{}, err
	}
	if !act.system {
		return actor{}, nil, domain.SignIn{}, domain.E(domain.KindForbidden, op, "only Arkiv's authentication runs "+op)
	}
	o := domain.NewOrganization(org)
	if _, err := x.load(ctx, o); err != nil {
		return actor{}, nil, domain.SignIn{}, err
	}
	if o.OrganizationID() == "" {
		return actor{}, nil, domain.SignIn{}, domain.E(domain.KindNotFound, op, "organisation not found")
	}
	signIn, ok := o.SignInOf(issuer, audience)
	if !ok || !hasProvider(o, issuer, audience) {
		return actor{}, nil, domain.SignIn{}, domain.E(domain.KindNotFound, op, "the organisation has no such identity provider")
	}
	act.org = o.ID()
	act.meta.Reason = DirectoryReason(issuer)
	return act, o, signIn, nil
}

// applyDirectory makes the user's organisation role and space memberships what the
// mapping gives groups, one ordinary event per change, and returns the position of the
// last (0 when nothing changed).
func (x *executor) applyDirectory(ctx context.Context, act actor, s domain.SignIn, userID string, groups []string) (uint64, error) {
	const op = string(domain.CmdApplyDirectoryGroups)
	if err := domain.ValidateID("user id", userID); err != nil {
		return 0, err
	}
	roles := domain.RolesFromGroups(s.GroupRoles, groups)
	var last uint64
	var orgAdmin bool
	// The user first: a user of another organisation, or a deactivated one, gets nothing.
	pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewUser(userID) }, func(a domain.Aggregate) error {
		u := a.(*domain.User)
		if u.OrganizationID() != act.org || !u.Active() {
			return domain.E(domain.KindNotFound, op, "user not found")
		}
		if roles.OrgManaged {
			if err := u.ChangeRole(roles.OrgRole, act.id); err != nil {
				return err
			}
		}
		orgAdmin = u.Role() == domain.OrgRoleAdmin || (roles.OrgManaged && roles.OrgRole == domain.OrgRoleAdmin)
		return nil
	})
	if err != nil {
		return 0, err
	}
	last = max(last, pos)
	for spaceID, want := range roles.Spaces {
		pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewSpace(spaceID) }, func(a domain.Aggregate) error {
			sp := a.(*domain.Space)
			// A space of another organisation, or one deleted, is not the directory's.
			if sp.OrganizationID() != act.org || !sp.Live() {
				return nil
			}
			facts := domain.MembershipFacts{ActorOrgAdmin: true, MemberOrgAdmin: orgAdmin}
			cur := sp.RoleOf(userID)
			var err error
			switch {
			case cur == want:
			case want == domain.SpaceRoleNone:
				err = sp.RemoveMember(userID, facts)
			case cur == domain.SpaceRoleNone:
				err = sp.AddMember(userID, want)
			default:
				err = sp.ChangeMemberRole(userID, want, facts)
			}
			if domain.Is(domain.KindConflict, err) {
				return nil // the last Space Admin stays: the directory's change is skipped
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		last = max(last, pos)
	}
	return last, nil
}

// change loads an aggregate (empty returns it unloaded), lets decide record on it and appends what it recorded, through
// retryStale; a retried command appends nothing twice. It returns the position of the
// appended events, 0 for none.
func (x *executor) change(ctx context.Context, act actor, empty func() domain.Aggregate, decide func(domain.Aggregate) error) (uint64, error) {
	return retryStale(ctx, string(act.cmd), maxAttempts, func() (uint64, error) {
		fresh := empty()
		recs, err := x.load(ctx, fresh)
		if err != nil {
			return 0, err
		}
		if pos, ok := applied(recs, act.meta.CommandID, fresh.Stream()); ok {
			return pos, nil
		}
		if err := decide(fresh); err != nil {
			return 0, err
		}
		if len(fresh.Changes()) == 0 {
			return 0, nil
		}
		pos, err := x.append(ctx, act.meta, act.id, fresh, recs)
		return pos, staleOr(err)
	})
}
