package domain

// OrgRole is a user's role in their organisation.
type OrgRole string

// The organisation roles. Admins manage the organisation, its users and keys; Creators also
// create spaces and assistants; Users work in the spaces they belong to.
const (
	OrgRoleUser    OrgRole = "USER"
	OrgRoleCreator OrgRole = "CREATOR"
	OrgRoleAdmin   OrgRole = "ADMIN"
)

// OrgRoles lists the organisation roles, least privileged first.
func OrgRoles() []OrgRole { return []OrgRole{OrgRoleUser, OrgRoleCreator, OrgRoleAdmin} }

// Valid reports whether r is a known organisation role.
func (r OrgRole) Valid() bool {
	return r == OrgRoleUser || r == OrgRoleCreator || r == OrgRoleAdmin
}

// ParseOrgRole validates an organisation role.
func ParseOrgRole(s string) (OrgRole, error) {
	r := OrgRole(s)
	if !r.Valid() {
		return "", E(KindInvalid, "org_role.parse", "organisation role must be USER, CREATOR or ADMIN")
	}
	return r, nil
}

// SpaceRole is a user's role in one space. SpaceRoleNone means not a member.
type SpaceRole string

// The space roles. Space Admins manage members and settings, Editors ingest and edit,
// Viewers read and chat.
const (
	SpaceRoleNone   SpaceRole = ""
	SpaceRoleViewer SpaceRole = "SPACE_VIEWER"
	SpaceRoleEditor SpaceRole = "SPACE_EDITOR"
	SpaceRoleAdmin  SpaceRole = "SPACE_ADMIN"
)

// SpaceRoles lists the space roles including SpaceRoleNone, least privileged first.
func SpaceRoles() []SpaceRole {
	return []SpaceRole{SpaceRoleNone, SpaceRoleViewer, SpaceRoleEditor, SpaceRoleAdmin}
}

// Valid reports whether r is a member role (SpaceRoleNone is not).
func (r SpaceRole) Valid() bool {
	return r == SpaceRoleViewer || r == SpaceRoleEditor || r == SpaceRoleAdmin
}

// ParseSpaceRole validates a member role.
func ParseSpaceRole(s string) (SpaceRole, error) {
	r := SpaceRole(s)
	if !r.Valid() {
		return "", E(KindInvalid, "space_role.parse", "space role must be SPACE_ADMIN, SPACE_EDITOR or SPACE_VIEWER")
	}
	return r, nil
}

// Command names a use case for authorization and auditing. The names are stable: they are
// stored in access-denied events.
type Command string

// The commands of Arkiv.
const (
	CmdChangeOrganizationSettings Command = "ChangeOrganizationSettings"
	CmdRegisterUser               Command = "RegisterUser"
	CmdChangeUserRole             Command = "ChangeUserRole"
	CmdDeactivateUser             Command = "DeactivateUser"
	CmdCreateAPIKey               Command = "CreateAPIKey"
	CmdRevokeAPIKey               Command = "RevokeAPIKey"
	CmdRecordAPIKeyUse            Command = "RecordAPIKeyUse"
	CmdCreateSpace                Command = "CreateSpace"
	CmdAddSpaceMember             Command = "AddSpaceMember"
	CmdRemoveSpaceMember          Command = "RemoveSpaceMember"
	CmdChangeSpaceMemberRole      Command = "ChangeSpaceMemberRole"
	CmdEnableSpaceModels          Command = "EnableSpaceModels"
	CmdDeleteSpace                Command = "DeleteSpace"
	CmdCreateAssistant            Command = "CreateAssistant"
	CmdUpdateAssistant            Command = "UpdateAssistant"
	CmdDeleteAssistant            Command = "DeleteAssistant"
	CmdIngestDocument             Command = "IngestDocument"
	CmdDeleteDocument             Command = "DeleteDocument"
	CmdViewDocument               Command = "ViewDocument"
	CmdStartConversation          Command = "StartConversation"
	CmdSendMessage                Command = "SendMessage"
	CmdRecordModelInvocation      Command = "RecordModelInvocation"
	CmdRequestErasure             Command = "RequestErasure"
	CmdRestoreErasure             Command = "RestoreErasure"
	CmdCompleteErasure            Command = "CompleteErasure"
	CmdViewAuditLog               Command = "ViewAuditLog"
	CmdViewAuditIntegrity         Command = "ViewAuditIntegrity"
	CmdExportAuditLog             Command = "ExportAuditLog"
	CmdExportData                 Command = "ExportData"
	// CmdSearch records a search over a space's documents (space members).
	CmdSearch Command = "Search"
	// CmdViewAccess records a whoCanAccess or accessOf read (Admins).
	CmdViewAccess Command = "ViewAccess"
	// CmdSubscribeAudit records a subscription to the live audit stream (Admins).
	CmdSubscribeAudit Command = "SubscribeAudit"
	// CmdLogout records the end of a session (anyone).
	CmdLogout Command = "Logout"
	// CmdRecordRetentionDestruction records destroyed retention buckets; only the system
	// actor runs it (SystemAllowed), so it is not in the RBAC table of user roles.
	CmdRecordRetentionDestruction Command = "RecordRetentionDestruction"
	// CmdViewModelInvocations reads what was sent to models (Admins).
	CmdViewModelInvocations Command = "ViewModelInvocations"
	// CmdViewHistory reads the organisation as it was at an instant (as-of replay, Admins).
	CmdViewHistory Command = "ViewHistory"
	// CmdRecordLogin records a local login's outcome in the access log; only the system
	// actor runs it (SystemAllowed), on behalf of authentication.
	CmdRecordLogin Command = "RecordLogin"
	// CmdConfigureIdentityProvider adds or updates an OIDC identity provider (Admins).
	CmdConfigureIdentityProvider Command = "ConfigureIdentityProvider"
	// CmdRemoveIdentityProvider removes an OIDC identity provider (Admins).
	CmdRemoveIdentityProvider Command = "RemoveIdentityProvider"
	// CmdSetPassword sets a local account's password. It is not in the RBAC table: anyone
	// sets their own, an active Admin another user's of the organisation.
	CmdSetPassword Command = "SetPassword"
	// CmdRecordDenial records an operation the API refused by role before any command ran;
	// every user records their own. It is not in the RBAC table.
	CmdRecordDenial Command = "RecordDenial"
	// CmdExportEvidence records a DPIA evidence bundle's export (Admins).
	CmdExportEvidence Command = "ExportEvidence"
	// CmdDeleteConversation deletes a conversation (an erasure order): its owner, or an
	// Admin of its space (checked beyond the table).
	CmdDeleteConversation Command = "DeleteConversation"
	// CmdRestoreDeletedItem restores a pending erasure of a subject in a space (Space
	// Admins); organisation Admins restore any with CmdRestoreErasure.
	CmdRestoreDeletedItem Command = "RestoreDeletedItem"
	// CmdPlaceLegalHold and CmdLiftLegalHold place and lift legal holds (Admins).
	CmdPlaceLegalHold Command = "PlaceLegalHold"
	CmdLiftLegalHold  Command = "LiftLegalHold"
	// CmdCertifyErasure records a completed erasure's certificate; only the system actor
	// runs it (SystemAllowed), so it is not in the RBAC table of user roles.
	CmdCertifyErasure Command = "CertifyErasure"
)

// Scope says whether a command's authorization depends on a space role.
type Scope uint8

// The scopes of commands.
const (
	// ScopeOrganization commands depend on the organisation role only.
	ScopeOrganization Scope = iota + 1
	// ScopeSpace commands depend on the actor's role in the target's space as well.
	ScopeSpace
)

// Permission is one row of the RBAC table: the command, its scope, and which organisation
// roles combined with which space roles may run it.
type Permission struct {
	Command Command
	Scope   Scope
	Org     []OrgRole
	Space   []SpaceRole
}

var (
	anyOrg       = []OrgRole{OrgRoleUser, OrgRoleCreator, OrgRoleAdmin}
	adminOnly    = []OrgRole{OrgRoleAdmin}
	creators     = []OrgRole{OrgRoleCreator, OrgRoleAdmin}
	anySpaceRole = []SpaceRole{SpaceRoleNone, SpaceRoleViewer, SpaceRoleEditor, SpaceRoleAdmin}
	members      = []SpaceRole{SpaceRoleViewer, SpaceRoleEditor, SpaceRoleAdmin}
	editors      = []SpaceRole{SpaceRoleEditor, SpaceRoleAdmin}
	spaceAdmins  = []SpaceRole{SpaceRoleAdmin}
)

// permissions is THE RBAC table of Arkiv. A combination not listed is denied. Organisation
// Admins have no access to a space's content unless they are members of it: spaces are
// isolated even from the organisation's administrators.
var permissions = []Permission{
	{CmdChangeOrganizationSettings, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdConfigureIdentityProvider, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdRemoveIdentityProvider, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdRegisterUser, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdChangeUserRole, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdDeactivateUser, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdCreateAPIKey, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdRevokeAPIKey, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdRecordAPIKeyUse, ScopeOrganization, anyOrg, anySpaceRole},
	{CmdCreateSpace, ScopeOrganization, creators, anySpaceRole},
	{CmdAddSpaceMember, ScopeSpace, anyOrg, spaceAdmins},
	{CmdRemoveSpaceMember, ScopeSpace, anyOrg, spaceAdmins},
	{CmdChangeSpaceMemberRole, ScopeSpace, anyOrg, spaceAdmins},
	{CmdEnableSpaceModels, ScopeSpace, anyOrg, spaceAdmins},
	{CmdDeleteSpace, ScopeSpace, anyOrg, spaceAdmins},
	{CmdCreateAssistant, ScopeSpace, creators, editors},
	{CmdUpdateAssistant, ScopeSpace, anyOrg, editors},
	{CmdDeleteAssistant, ScopeSpace, anyOrg, spaceAdmins},
	{CmdIngestDocument, ScopeSpace, anyOrg, editors},
	{CmdDeleteDocument, ScopeSpace, anyOrg, editors},
	{CmdViewDocument, ScopeSpace, anyOrg, members},
	{CmdStartConversation, ScopeSpace, anyOrg, members},
	{CmdSendMessage, ScopeSpace, anyOrg, members},
	{CmdRecordModelInvocation, ScopeSpace, anyOrg, members},
	{CmdRequestErasure, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdRestoreErasure, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdCompleteErasure, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdViewAuditLog, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdViewAuditIntegrity, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdExportAuditLog, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdSearch, ScopeSpace, anyOrg, members},
	{CmdViewAccess, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdSubscribeAudit, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdLogout, ScopeOrganization, anyOrg, anySpaceRole},
	{CmdExportData, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdViewHistory, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdViewModelInvocations, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdExportEvidence, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdDeleteConversation, ScopeSpace, anyOrg, members},
	{CmdRestoreDeletedItem, ScopeSpace, anyOrg, spaceAdmins},
	{CmdPlaceLegalHold, ScopeOrganization, adminOnly, anySpaceRole},
	{CmdLiftLegalHold, ScopeOrganization, adminOnly, anySpaceRole},
}

// oversight lists the space-scoped commands an organisation Admin may run in any space of
// the organisation whatever their role in it: managing membership. Org Admins keep
// oversight of every space (and may add themselves back); a space's content stays its
// members' (the table above).
var oversight = []Command{CmdAddSpaceMember, CmdRemoveSpaceMember, CmdChangeSpaceMemberRole,
	// Restoring a deleted item of any space: Admins restore every erasure of the organisation.
	CmdRestoreDeletedItem}

// OrgAdminOversight reports whether cmd is one an organisation Admin may run in any space
// of the organisation, member or not.
func OrgAdminOversight(cmd Command) bool { return containsRole(oversight, cmd) }

// SystemActor is the actor id under which Arkiv's own process managers run commands (the
// erasure process manager completes erasures whose grace window has passed, the retention
// process manager records destroyed buckets). It is not a UUID, so no user, API key or
// session can ever carry it; the command layer lets it run only what SystemAllowed allows.
const SystemActor = "system"

// systemCommands are the only commands the system actor may run.
var systemCommands = []Command{CmdCompleteErasure, CmdRecordRetentionDestruction, CmdRecordLogin, CmdCertifyErasure,
	// The operator's CLI reads: `arkiv audit export`, `arkiv audit as-of`, `arkiv evidence export`.
	CmdExportAuditLog, CmdViewHistory, CmdExportEvidence}

// SystemAllowed reports whether the system actor may run cmd: completing an erasure,
// recording retention destructions, recording login outcomes and recording an operator's
// audit export (`arkiv audit export`), nothing else.
func SystemAllowed(cmd Command) bool { return containsRole(systemCommands, cmd) }

// Permissions returns a copy of the RBAC table.
func Permissions() []Permission { return append([]Permission(nil), permissions...) }

// Commands returns every command in the RBAC table, in table order.
func Commands() []Command {
	out := make([]Command, len(permissions))
	for i, p := range permissions {
		out[i] = p.Command
	}
	return out
}

// ScopeOf returns the scope of cmd, or 0 for an unknown command.
func ScopeOf(cmd Command) Scope {
	for _, p := range permissions {
		if p.Command == cmd {
			return p.Scope
		}
	}
	return 0
}

// Allowed reports whether an actor with the organisation role org and the space role space
// (SpaceRoleNone when not a member, or for organisation-scoped commands) may run cmd.
// Organisation Admins may run the membership commands in any space (OrgAdminOversight).
// Unknown commands and roles are denied.
func Allowed(cmd Command, org OrgRole, space SpaceRole) bool {
	if org == OrgRoleAdmin && OrgAdminOversight(cmd) && containsRole(SpaceRoles(), space) {
		return true
	}
	for _, p := range permissions {
		if p.Command != cmd {
			continue
		}
		return containsRole(p.Org, org) && containsRole(p.Space, space)
	}
	return false
}

func containsRole[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
