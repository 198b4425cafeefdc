package domain

import "time"

// User is a person's account and membership in one organisation.
type User struct {
	root
	role   OrgRole
	active bool
}

// UserRegistered records a new user of an organisation. E-mail and name are sealed under
// the user.
type UserRegistered struct {
	UserID         string  `json:"userId"`
	OrganizationID string  `json:"organizationId"`
	Email          Sealed  `json:"email"`
	Name           Sealed  `json:"name"`
	Role           OrgRole `json:"role"`
}

// EventName implements Event.
func (UserRegistered) EventName() string { return "user.registered.v1" }

// UserRoleChanged records a user's new organisation role.
type UserRoleChanged struct {
	UserID string  `json:"userId"`
	Role   OrgRole `json:"role"`
	// PreviousRole is the role before the change (absent in events recorded before it was
	// added).
	PreviousRole OrgRole `json:"previousRole,omitempty"`
}

// EventName implements Event.
func (UserRoleChanged) EventName() string { return "user.role_changed.v1" }

// UserDeactivated records that a user may no longer act.
type UserDeactivated struct {
	UserID string `json:"userId"`
}

// EventName implements Event.
func (UserDeactivated) EventName() string { return "user.deactivated.v1" }

// UserPasswordSet records that a user's local-account password was set, never the password:
// by the user themselves, or by an Admin for them (Reset), which forces a change at the
// user's next login.
type UserPasswordSet struct {
	UserID string    `json:"userId"`
	SetBy  string    `json:"setBy"`
	Reset  bool      `json:"reset"`
	SetAt  time.Time `json:"setAt"`
}

// EventName implements Event.
func (UserPasswordSet) EventName() string { return "user.password_set.v1" }

// NewUser returns an empty user aggregate with the given id.
func NewUser(id string) *User { return &User{root: newRoot(StreamPrefixUser, id)} }

// Register records a new user of org with an organisation role.
func (u *User) Register(org, email, name string, role OrgRole) error {
	const op = "user.register"
	if u.created() {
		return errExists(op, "user")
	}
	if err := ValidateID("user id", u.id); err != nil {
		return err
	}
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	mail, err := NewEmail(email)
	if err != nil {
		return err
	}
	n, err := NewName("user name", name)
	if err != nil {
		return err
	}
	if !role.Valid() {
		return E(KindInvalid, op, "organisation role must be USER, CREATOR or ADMIN")
	}
	sub := UserSubject(u.id)
	record(u, UserRegistered{UserID: u.id, OrganizationID: org, Email: Seal(mail, sub), Name: Seal(n, sub), Role: role})
	return nil
}

// ChangeRole records a new organisation role. by is the acting user: nobody changes their
// own role, so an organisation cannot lose its last Admin by accident. The same role records
// nothing.
func (u *User) ChangeRole(role OrgRole, by string) error {
	const op = "user.change_role"
	if err := u.alive(op); err != nil {
		return err
	}
	if !role.Valid() {
		return E(KindInvalid, op, "organisation role must be USER, CREATOR or ADMIN")
	}
	if by == u.id {
		return E(KindConflict, op, "users cannot change their own role")
	}
	if role == u.role {
		return nil
	}
	record(u, UserRoleChanged{UserID: u.id, Role: role, PreviousRole: u.role})
	return nil
}

// Deactivate records that the user may no longer act. Nobody deactivates themselves.
func (u *User) Deactivate(by string) error {
	const op = "user.deactivate"
	if err := u.alive(op); err != nil {
		return err
	}
	if by == u.id {
		return E(KindConflict, op, "users cannot deactivate themselves")
	}
	record(u, UserDeactivated{UserID: u.id})
	return nil
}

// RecordPasswordSet records that the user's password was set at at by by: the user, or an
// Admin resetting it for them. A deactivated user's password is not set.
func (u *User) RecordPasswordSet(by string, at time.Time) error {
	const op = "user.set_password"
	if err := u.alive(op); err != nil {
		return err
	}
	if err := ValidateID("actor id", by); err != nil {
		return err
	}
	record(u, UserPasswordSet{UserID: u.id, SetBy: by, Reset: by != u.id, SetAt: at.UTC()})
	return nil
}

// Role returns the user's organisation role.
func (u *User) Role() OrgRole { return u.role }

// Active reports whether the user exists and has not been deactivated.
func (u *User) Active() bool { return u.created() && u.active }

func (u *User) alive(op string) error {
	if !u.Active() {
		return errGone(op, "user")
	}
	return nil
}

func (u *User) apply(e Event) {
	switch e := e.(type) {
	case UserRegistered:
		u.org = e.OrganizationID
		u.role = e.Role
		u.active = true
	case UserRoleChanged:
		u.role = e.Role
	case UserDeactivated:
		u.active = false
	}
}
