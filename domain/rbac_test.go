package domain

import "testing"

func TestRBACTableIsComplete(t *testing.T) {
	seen := map[Command]bool{}
	for _, p := range Permissions() {
		if seen[p.Command] {
			t.Fatalf("%s has two rows", p.Command)
		}
		seen[p.Command] = true
		if p.Scope != ScopeOrganization && p.Scope != ScopeSpace {
			t.Fatalf("%s has no scope", p.Command)
		}
		if p.Scope == ScopeOrganization && len(p.Space) != len(SpaceRoles()) {
			t.Fatalf("%s is organisation-scoped but depends on space roles", p.Command)
		}
	}
	if len(seen) != len(Commands()) {
		t.Fatal("Commands does not list the table")
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		cmd   Command
		org   OrgRole
		space SpaceRole
		want  bool
	}{
		{CmdChangeOrganizationSettings, OrgRoleAdmin, SpaceRoleNone, true},
		{CmdChangeOrganizationSettings, OrgRoleCreator, SpaceRoleNone, false},
		{CmdConfigureIdentityProvider, OrgRoleAdmin, SpaceRoleNone, true},
		{CmdConfigureIdentityProvider, OrgRoleCreator, SpaceRoleNone, false},
		{CmdConfigureIdentityProvider, OrgRoleUser, SpaceRoleAdmin, false},
		{CmdRemoveIdentityProvider, OrgRoleAdmin, SpaceRoleNone, true},
		{CmdRemoveIdentityProvider, OrgRoleUser, SpaceRoleNone, false},
		{CmdCreateSpace, OrgRoleCreator, SpaceRoleNone, true},
		{CmdCreateSpace, OrgRoleUser, SpaceRoleNone, false},
		{CmdCreateAssistant, OrgRoleCreator, SpaceRoleEditor, true},
		{CmdCreateAssistant, OrgRoleUser, SpaceRoleAdmin, false},
		{CmdCreateAssistant, OrgRoleAdmin, SpaceRoleViewer, false},
		{CmdAddSpaceMember, OrgRoleUser, SpaceRoleAdmin, true},
		{CmdAddSpaceMember, OrgRoleAdmin, SpaceRoleEditor, true},
		{CmdAddSpaceMember, OrgRoleAdmin, SpaceRoleNone, true},
		{CmdRemoveSpaceMember, OrgRoleAdmin, SpaceRoleNone, true},
		{CmdChangeSpaceMemberRole, OrgRoleAdmin, SpaceRoleViewer, true},
		{CmdAddSpaceMember, OrgRoleCreator, SpaceRoleEditor, false},
		{CmdEnableSpaceModels, OrgRoleAdmin, SpaceRoleNone, false},
		{CmdDeleteSpace, OrgRoleAdmin, SpaceRoleViewer, false},
		{CmdIngestDocument, OrgRoleUser, SpaceRoleEditor, true},
		{CmdIngestDocument, OrgRoleAdmin, SpaceRoleViewer, false},
		{CmdSendMessage, OrgRoleUser, SpaceRoleViewer, true},
		{CmdSendMessage, OrgRoleAdmin, SpaceRoleNone, false},
		{CmdViewAuditLog, OrgRoleAdmin, SpaceRoleNone, true},
		{"NoSuchCommand", OrgRoleAdmin, SpaceRoleAdmin, false},
		{CmdSendMessage, "ROOT", SpaceRoleViewer, false},
	}
	for _, c := range cases {
		if got := Allowed(c.cmd, c.org, c.space); got != c.want {
			t.Errorf("Allowed(%s, %s, %q) = %v, want %v", c.cmd, c.org, c.space, got, c.want)
		}
	}
}
