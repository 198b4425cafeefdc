package domain

import "sort"

// Space is an isolated workspace of an organisation: its members, classification and the
// models enabled in it.
type Space struct {
	root
	classification Classification
	members        map[string]SpaceRole
	models         []ModelID
	deleted        bool
}

// SpaceCreated records a new space. The name is sealed under the space.
type SpaceCreated struct {
	SpaceID        string         `json:"spaceId"`
	OrganizationID string         `json:"organizationId"`
	Name           Sealed         `json:"name"`
	Classification Classification `json:"classification"`
	CreatedBy      string         `json:"createdBy"`
}

// EventName implements Event.
func (SpaceCreated) EventName() string { return "space.created.v1" }

// SpaceMemberAdded records a new member and their role.
type SpaceMemberAdded struct {
	SpaceID string    `json:"spaceId"`
	UserID  string    `json:"userId"`
	Role    SpaceRole `json:"role"`
}

// EventName implements Event.
func (SpaceMemberAdded) EventName() string { return "space.member_added.v1" }

// SpaceMemberRemoved records that a user is no longer a member.
type SpaceMemberRemoved struct {
	SpaceID string `json:"spaceId"`
	UserID  string `json:"userId"`
	// PreviousRole is the member's role before removal (absent in older events).
	PreviousRole SpaceRole `json:"previousRole,omitempty"`
}

// EventName implements Event.
func (SpaceMemberRemoved) EventName() string { return "space.member_removed.v1" }

// SpaceMemberRoleChanged records a member's new role.
type SpaceMemberRoleChanged struct {
	SpaceID string    `json:"spaceId"`
	UserID  string    `json:"userId"`
	Role    SpaceRole `json:"role"`
	// PreviousRole is the role before the change (absent in older events).
	PreviousRole SpaceRole `json:"previousRole,omitempty"`
}

// EventName implements Event.
func (SpaceMemberRoleChanged) EventName() string { return "space.member_role_changed.v1" }

// SpaceModelsEnabled records the complete set of models enabled in the space.
type SpaceModelsEnabled struct {
	SpaceID string    `json:"spaceId"`
	Models  []ModelID `json:"models"`
}

// EventName implements Event.
func (SpaceModelsEnabled) EventName() string { return "space.models_enabled.v1" }

// SpaceDeleted records that the space is gone.
type SpaceDeleted struct {
	SpaceID string `json:"spaceId"`
}

// EventName implements Event.
func (SpaceDeleted) EventName() string { return "space.deleted.v1" }

// NewSpace returns an empty space aggregate with the given id.
func NewSpace(id string) *Space {
	return &Space{root: newRoot(StreamPrefixSpace, id), members: map[string]SpaceRole{}}
}

// Create records a new space of org, classified at one of the organisation's levels, with
// its creator as its first Space Admin.
func (s *Space) Create(org, name string, class Classification, creator string, settings OrganizationSettings) error {
	const op = "space.create"
	if s.created() {
		return errExists(op, "space")
	}
	if err := ValidateID("space id", s.id); err != nil {
		return err
	}
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	n, err := NewName("space name", name)
	if err != nil {
		return err
	}
	if settings.Rank(class) < 0 {
		return E(KindInvalid, op, "classification is not one of the organisation's levels")
	}
	record(s, SpaceCreated{SpaceID: s.id, OrganizationID: org, Name: Seal(n, SpaceSubject(s.id)), Classification: class, CreatedBy: creator})
	record(s, SpaceMemberAdded{SpaceID: s.id, UserID: creator, Role: SpaceRoleAdmin})
	return nil
}

// AddMember records a new member. The caller has checked that the user belongs to the
// space's organisation.
func (s *Space) AddMember(user string, role SpaceRole) error {
	const op = "space.add_member"
	if err := s.alive(op); err != nil {
		return err
	}
	if err := ValidateID("user id", user); err != nil {
		return err
	}
	if !role.Valid() {
		return E(KindInvalid, op, "space role must be SPACE_ADMIN, SPACE_EDITOR or SPACE_VIEWER")
	}
	if _, ok := s.members[user]; ok {
		return E(KindConflict, op, "user is already a member of the space")
	}
	record(s, SpaceMemberAdded{SpaceID: s.id, UserID: user, Role: role})
	return nil
}

// MembershipFacts are the organisation's facts a change of an existing member's access
// depends on; the command looks them up (the space does not know organisation roles).
type MembershipFacts struct {
	// ActorOrgAdmin says the actor is an Admin of the space's organisation.
	ActorOrgAdmin bool
	// MemberOrgAdmin says the member whose access changes is an Admin of the organisation.
	MemberOrgAdmin bool
}

// oversight refuses a change of an organisation Admin's access by anyone but an
// organisation Admin: org Admins keep oversight of every space, so a Space Admin who is an
// organisation User cannot demote or remove them.
func (f MembershipFacts) oversight(op string) error {
	if f.MemberOrgAdmin && !f.ActorOrgAdmin {
		return E(KindForbidden, op, "only an organisation Admin can change an organisation Admin's access to a space")
	}
	return nil
}

// RemoveMember records that user is no longer a member. The last Space Admin stays; an
// organisation Admin is removed only by an organisation Admin.
func (s *Space) RemoveMember(user string, f MembershipFacts) error {
	const op = "space.remove_member"
	if err := s.alive(op); err != nil {
		return err
	}
	role, ok := s.members[user]
	if !ok {
		return E(KindNotFound, op, "user is not a member of the space")
	}
	if err := f.oversight(op); err != nil {
		return err
	}
	if role == SpaceRoleAdmin && s.admins() == 1 {
		return E(KindConflict, op, "the last space admin cannot be removed")
	}
	record(s, SpaceMemberRemoved{SpaceID: s.id, UserID: user, PreviousRole: role})
	return nil
}

// ChangeMemberRole records a member's new role. The last Space Admin stays one; the same
// role records nothing; an organisation Admin's role is changed only by an organisation
// Admin.
func (s *Space) ChangeMemberRole(user string, role SpaceRole, f MembershipFacts) error {
	const op = "space.change_member_role"
	if err := s.alive(op); err != nil {
		return err
	}
	if !role.Valid() {
		return E(KindInvalid, op, "space role must be SPACE_ADMIN, SPACE_EDITOR or SPACE_VIEWER")
	}
	old, ok := s.members[user]
	if !ok {
		return E(KindNotFound, op, "user is not a member of the space")
	}
	if old == role {
		return nil
	}
	if err := f.oversight(op); err != nil {
		return err
	}
	if old == SpaceRoleAdmin && s.admins() == 1 {
		return E(KindConflict, op, "the last space admin cannot be demoted")
	}
	record(s, SpaceMemberRoleChanged{SpaceID: s.id, UserID: user, Role: role, PreviousRole: old})
	return nil
}

// EnableModels records the set of models enabled in the space: each must be on the
// organisation's allow-list with a maximum classification at least the space's.
func (s *Space) EnableModels(models []ModelID, settings OrganizationSettings) error {
	const op = "space.enable_models"
	if err := s.alive(op); err != nil {
		return err
	}
	seen := map[ModelID]bool{}
	set := make([]ModelID, 0, len(models))
	for _, id := range models {
		if _, err := NewModelID(string(id)); err != nil {
			return err
		}
		m, ok := settings.Model(id)
		if !ok {
			return Errorf(KindInvalid, op, "model %s is not on the organisation's allow-list", id)
		}
		if settings.Rank(m.MaxClassification) < settings.Rank(s.classification) {
			return Errorf(KindInvalid, op, "model %s may not see data classified %s", id, s.classification)
		}
		if !seen[id] {
			seen[id] = true
			set = append(set, id)
		}
	}
	sort.Slice(set, func(i, j int) bool { return set[i] < set[j] })
	if equalModels(set, s.models) {
		return nil
	}
	record(s, SpaceModelsEnabled{SpaceID: s.id, Models: set})
	return nil
}

// Delete records that the space is gone.
func (s *Space) Delete() error {
	const op = "space.delete"
	if err := s.alive(op); err != nil {
		return err
	}
	record(s, SpaceDeleted{SpaceID: s.id})
	return nil
}

// RoleOf returns user's role in the space, SpaceRoleNone when not a member (or deleted).
func (s *Space) RoleOf(user string) SpaceRole {
	if s.deleted {
		return SpaceRoleNone
	}
	return s.members[user]
}

// Members returns the space's members and their roles (none once deleted).
func (s *Space) Members() map[string]SpaceRole {
	out := make(map[string]SpaceRole, len(s.members))
	if s.deleted {
		return out
	}
	for u, r := range s.members {
		out[u] = r
	}
	return out
}

// Classification returns the space's classification.
func (s *Space) Classification() Classification { return s.classification }

// Models returns the models enabled in the space, sorted.
func (s *Space) Models() []ModelID { return append([]ModelID(nil), s.models...) }

// ModelEnabled reports whether id is enabled in the space.
func (s *Space) ModelEnabled(id ModelID) bool {
	for _, m := range s.models {
		if m == id {
			return true
		}
	}
	return false
}

// Live reports whether the space exists and is not deleted.
func (s *Space) Live() bool { return s.created() && !s.deleted }

func (s *Space) alive(op string) error {
	if !s.Live() {
		return errGone(op, "space")
	}
	return nil
}

func (s *Space) admins() int {
	n := 0
	for _, r := range s.members {
		if r == SpaceRoleAdmin {
			n++
		}
	}
	return n
}

func (s *Space) apply(e Event) {
	switch e := e.(type) {
	case SpaceCreated:
		s.org = e.OrganizationID
		s.space = e.SpaceID
		s.classification = e.Classification
	case SpaceMemberAdded:
		s.members[e.UserID] = e.Role
	case SpaceMemberRemoved:
		delete(s.members, e.UserID)
	case SpaceMemberRoleChanged:
		s.members[e.UserID] = e.Role
	case SpaceModelsEnabled:
		s.models = e.Models
	case SpaceDeleted:
		s.deleted = true
	}
}

func equalModels(a, b []ModelID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
