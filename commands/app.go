package commands

import (
	"log/slog"
)

// App holds every command handler, each wrapped by the logging decorator. It is what the
// GraphQL resolvers and the CLI call.
type App struct {
	Bootstrap                  Handler[Bootstrap, BootstrapResult]
	ChangeOrganizationSettings Handler[ChangeOrganizationSettings, Result]
	ConfigureIdentityProvider  Handler[ConfigureIdentityProvider, Result]
	RemoveIdentityProvider     Handler[RemoveIdentityProvider, Result]
	RegisterUser               Handler[RegisterUser, Result]
	ChangeUserRole             Handler[ChangeUserRole, Result]
	DeactivateUser             Handler[DeactivateUser, Result]
	CreateAPIKey               Handler[CreateAPIKey, APIKeyResult]
	RevokeAPIKey               Handler[RevokeAPIKey, Result]
	RecordAPIKeyUse            Handler[RecordAPIKeyUse, Result]
	CreateSpace                Handler[CreateSpace, Result]
	AddSpaceMember             Handler[AddSpaceMember, Result]
	RemoveSpaceMember          Handler[RemoveSpaceMember, Result]
	ChangeSpaceMemberRole      Handler[ChangeSpaceMemberRole, Result]
	EnableSpaceModels          Handler[EnableSpaceModels, Result]
	DeleteSpace                Handler[DeleteSpace, Result]
	CreateAssistant            Handler[CreateAssistant, Result]
	UpdateAssistant            Handler[UpdateAssistant, Result]
	DeleteAssistant            Handler[DeleteAssistant, Result]
	IngestDocument             Handler[IngestDocument, Result]
	DeleteDocument             Handler[DeleteDocument, Result]
	ViewDocument               Handler[ViewDocument, Result]
	StartConversation          Handler[StartConversation, Result]
	SendMessage                Handler[SendMessage, Result]
	RecordAssistantReply       Handler[RecordAssistantReply, Result]
	RecordModelInvocation      Handler[RecordModelInvocation, Result]
	RequestErasure             Handler[RequestErasure, Result]
	RestoreErasure             Handler[RestoreErasure, Result]
	CompleteErasure            Handler[CompleteErasure, Result]
	ViewAuditLog               Handler[ViewAuditLog, Result]
	ExportAuditLog             Handler[ExportAuditLog, Result]
	ExportData                 Handler[ExportData, Result]
	ViewModelInvocations       Handler[ViewModelInvocations, Result]
	// RecordRetentionDestruction is run by the retention process manager as the system actor.
	RecordRetentionDestruction Handler[RecordRetentionDestruction, Result]
	// RecordLogin is run by authentication as the system actor for every local login.
	RecordLogin Handler[RecordLogin, Result]
	// SetPassword sets local accounts' passwords (Deps.Accounts).
	SetPassword Handler[SetPassword, Result]
}

// NewApp builds every handler over d and wraps it with WithLogging(log). It refuses nil
// dependencies and a nil logger.
func NewApp(d Deps, log *slog.Logger) (*App, error) {
	if log == nil {
		return nil, errNilLogger
	}
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &App{
		Bootstrap:                  WithLogging[Bootstrap, BootstrapResult]("Bootstrap", log, &BootstrapHandler{x}),
		ChangeOrganizationSettings: WithLogging[ChangeOrganizationSettings, Result]("ChangeOrganizationSettings", log, &ChangeOrganizationSettingsHandler{x}),
		ConfigureIdentityProvider:  WithLogging[ConfigureIdentityProvider, Result]("ConfigureIdentityProvider", log, &ConfigureIdentityProviderHandler{x}),
		RemoveIdentityProvider:     WithLogging[RemoveIdentityProvider, Result]("RemoveIdentityProvider", log, &RemoveIdentityProviderHandler{x}),
		RegisterUser:               WithLogging[RegisterUser, Result]("RegisterUser", log, &RegisterUserHandler{x}),
		ChangeUserRole:             WithLogging[ChangeUserRole, Result]("ChangeUserRole", log, &ChangeUserRoleHandler{x}),
		DeactivateUser:             WithLogging[DeactivateUser, Result]("DeactivateUser", log, &DeactivateUserHandler{x}),
		CreateAPIKey:               WithLogging[CreateAPIKey, APIKeyResult]("CreateAPIKey", log, &CreateAPIKeyHandler{x}),
		RevokeAPIKey:               WithLogging[RevokeAPIKey, Result]("RevokeAPIKey", log, &RevokeAPIKeyHandler{x}),
		RecordAPIKeyUse:            WithLogging[RecordAPIKeyUse, Result]("RecordAPIKeyUse", log, &RecordAPIKeyUseHandler{x}),
		CreateSpace:                WithLogging[CreateSpace, Result]("CreateSpace", log, &CreateSpaceHandler{x}),
		AddSpaceMember:             WithLogging[AddSpaceMember, Result]("AddSpaceMember", log, &AddSpaceMemberHandler{x}),
		RemoveSpaceMember:          WithLogging[RemoveSpaceMember, Result]("RemoveSpaceMember", log, &RemoveSpaceMemberHandler{x}),
		ChangeSpaceMemberRole:      WithLogging[ChangeSpaceMemberRole, Result]("ChangeSpaceMemberRole", log, &ChangeSpaceMemberRoleHandler{x}),
		EnableSpaceModels:          WithLogging[EnableSpaceModels, Result]("EnableSpaceModels", log, &EnableSpaceModelsHandler{x}),
		DeleteSpace:                WithLogging[DeleteSpace, Result]("DeleteSpace", log, &DeleteSpaceHandler{x}),
		CreateAssistant:            WithLogging[CreateAssistant, Result]("CreateAssistant", log, &CreateAssistantHandler{x}),
		UpdateAssistant:            WithLogging[UpdateAssistant, Result]("UpdateAssistant", log, &UpdateAssistantHandler{x}),
		DeleteAssistant:            WithLogging[DeleteAssistant, Result]("DeleteAssistant", log, &DeleteAssistantHandler{x}),
		IngestDocument:             WithLogging[IngestDocument, Result]("IngestDocument", log, &IngestDocumentHandler{x}),
		DeleteDocument:             WithLogging[DeleteDocument, Result]("DeleteDocument", log, &DeleteDocumentHandler{x}),
		ViewDocument:               WithLogging[ViewDocument, Result]("ViewDocument", log, &ViewDocumentHandler{x}),
		StartConversation:          WithLogging[StartConversation, Result]("StartConversation", log, &StartConversationHandler{x}),
		SendMessage:                WithLogging[SendMessage, Result]("SendMessage", log, &SendMessageHandler{x}),
		RecordAssistantReply:       WithLogging[RecordAssistantReply, Result]("RecordAssistantReply", log, &RecordAssistantReplyHandler{x}),
		RecordModelInvocation:      WithLogging[RecordModelInvocation, Result]("RecordModelInvocation", log, &RecordModelInvocationHandler{x}),
		RequestErasure:             WithLogging[RequestErasure, Result]("RequestErasure", log, &RequestErasureHandler{x}),
		RestoreErasure:             WithLogging[RestoreErasure, Result]("RestoreErasure", log, &RestoreErasureHandler{x}),
		CompleteErasure:            WithLogging[CompleteErasure, Result]("CompleteErasure", log, &CompleteErasureHandler{x}),
		ViewAuditLog:               WithLogging[ViewAuditLog, Result]("ViewAuditLog", log, &ViewAuditLogHandler{x}),
		ExportAuditLog:             WithLogging[ExportAuditLog, Result]("ExportAuditLog", log, &ExportAuditLogHandler{x}),
		ExportData:                 WithLogging[ExportData, Result]("ExportData", log, &ExportDataHandler{x}),
		ViewModelInvocations:       WithLogging[ViewModelInvocations, Result]("ViewModelInvocations", log, &ViewModelInvocationsHandler{x}),
		RecordRetentionDestruction: WithLogging[RecordRetentionDestruction, Result]("RecordRetentionDestruction", log, &RecordRetentionDestructionHandler{x}),
		RecordLogin:                WithLogging[RecordLogin, Result]("RecordLogin", log, &RecordLoginHandler{x}),
		SetPassword:                WithLogging[SetPassword, Result]("SetPassword", log, &SetPasswordHandler{d.Accounts}),
	}, nil
}
