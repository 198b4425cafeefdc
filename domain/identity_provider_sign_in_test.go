package domain

import (
	"reflect"
	"testing"
)

func TestRolesFromGroups(t *testing.T) {
	const s1, s2 = "0b0f6b8e-3c1f-4f7a-9a53-7e0f1d2c3b4a", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	mapping := []GroupRole{
		{Group: "creators", OrgRole: OrgRoleCreator},
		{Group: "admins", OrgRole: OrgRoleAdmin},
		{Group: "readers", SpaceID: s1, SpaceRole: SpaceRoleViewer},
		{Group: "editors", SpaceID: s1, SpaceRole: SpaceRoleEditor},
		{Group: "archive", SpaceID: s2, SpaceRole: SpaceRoleAdmin},
	}
	for _, c := range []struct {
		name    string
		mapping []GroupRole
		groups  []string
		want    DirectoryRoles
	}{
		{"the highest of several", mapping, []string{"creators", "admins", "readers", "editors"},
			DirectoryRoles{OrgRole: OrgRoleAdmin, OrgManaged: true, Spaces: map[string]SpaceRole{s1: SpaceRoleEditor, s2: SpaceRoleNone}}},
		{"no mapped group: a User, in no mapped space", mapping, []string{"unrelated"},
			DirectoryRoles{OrgRole: OrgRoleUser, OrgManaged: true, Spaces: map[string]SpaceRole{s1: SpaceRoleNone, s2: SpaceRoleNone}}},
		{"a mapping of spaces only leaves the organisation role alone", mapping[2:], []string{"archive"},
			DirectoryRoles{OrgRole: OrgRoleUser, OrgManaged: false, Spaces: map[string]SpaceRole{s1: SpaceRoleNone, s2: SpaceRoleAdmin}}},
		{"no mapping manages nothing", nil, []string{"admins"},
			DirectoryRoles{OrgRole: OrgRoleUser, Spaces: map[string]SpaceRole{}}},
	} {
		if got := RolesFromGroups(c.mapping, c.groups); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestNewSignInRefusesBadMappings(t *testing.T) {
	const org, space = "3e4f5a6b-7c8d-4e9f-a0b1-2c3d4e5f6071", "0b0f6b8e-3c1f-4f7a-9a53-7e0f1d2c3b4a"
	for name, g := range map[string]GroupRole{
		"no role":              {Group: "g"},
		"both roles":           {Group: "g", OrgRole: OrgRoleAdmin, SpaceID: space, SpaceRole: SpaceRoleAdmin},
		"a space without role": {Group: "g", SpaceID: space},
		"a bad space id":       {Group: "g", SpaceID: "space", SpaceRole: SpaceRoleAdmin},
		"an empty group":       {Group: " ", OrgRole: OrgRoleAdmin},
		"an unknown org role":  {Group: "g", OrgRole: "OWNER"},
		"a control in a group": {Group: "g\x00", OrgRole: OrgRoleAdmin},
	} {
		if _, err := NewSignIn(org, SignIn{GroupRoles: []GroupRole{g}}); !Is(KindInvalid, err) {
			t.Errorf("%s: want INVALID, got %v", name, err)
		}
	}
	if _, err := NewSignIn(org, SignIn{GroupRoles: []GroupRole{{Group: "g", OrgRole: OrgRoleAdmin}, {Group: "g", OrgRole: OrgRoleAdmin}}}); !Is(KindInvalid, err) {
		t.Errorf("a mapping listed twice: %v", err)
	}
	s, err := NewSignIn(org, SignIn{ClientSecret: Seal("s3cret")})
	if err != nil || s.DisplayName != "Identity provider" || len(s.ClientSecret.Subjects) != 1 || s.ClientSecret.Subjects[0] != OrganizationSubject(org) {
		t.Fatalf("defaults %+v, %v: want the default label and the secret sealed under the organisation", s, err)
	}
}

func TestDirectoryUserIDIsStableAndDistinct(t *testing.T) {
	a := DirectoryUserID("org", "https://idp", "sub")
	if a != DirectoryUserID("org", "https://idp", "sub") || ValidateID("user id", a) != nil {
		t.Fatalf("%q is not a stable user id", a)
	}
	for _, b := range []string{DirectoryUserID("org2", "https://idp", "sub"), DirectoryUserID("org", "https://idp2", "sub"), DirectoryUserID("org", "https://idp", "sub2")} {
		if a == b {
			t.Fatal("another organisation, issuer or subject gave the same id")
		}
	}
}
