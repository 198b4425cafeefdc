package commands

import (
	"context"
	"log/slog"
	"reflect"
)

// App holds every use case as a Handler, each wrapped by the logging decorator. It is what
// the GraphQL resolvers, authentication, the process managers and the CLI call.
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
	RecordSearch               Handler[RecordSearch, Result]
	RecordAccessQuery          Handler[RecordAccessQuery, Result]
	RecordAuditSubscription    Handler[RecordAuditSubscription, Result]
	RecordLogout               Handler[RecordLogout, Result]
	StartConversation          Handler[StartConversation, Result]
	SendMessage                Handler[SendMessage, Result]
	// Ask is a question to a conversation's assistant: retrieval, the model, and the
	// recorded exchange. It is KindUnavailable when Deps has no Retriever and Models.
	Ask                   Handler[Ask, AskResult]
	RecordModelInvocation Handler[RecordModelInvocation, Result]
	RequestErasure        Handler[RequestErasure, Result]
	RestoreErasure        Handler[RestoreErasure, Result]
	CompleteErasure       Handler[CompleteErasure, Result]
	// CertifyErasure is run by the erasure process manager as the system actor.
	CertifyErasure     Handler[CertifyErasure, Result]
	DeleteConversation Handler[DeleteConversation, Result]
	PlaceLegalHold     Handler[PlaceLegalHold, Result]
	LiftLegalHold      Handler[LiftLegalHold, Result]
	ViewAuditLog       Handler[ViewAuditLog, Result]
	// ViewAuditIntegrity records reads of the verifiable log's state and proofs.
	ViewAuditIntegrity   Handler[ViewAuditIntegrity, Result]
	ExportAuditLog       Handler[ExportAuditLog, Result]
	ExportEvidence       Handler[ExportEvidence, Result]
	ExportData           Handler[ExportData, Result]
	ViewModelInvocations Handler[ViewModelInvocations, Result]
	// ViewHistory records an as-of read (history) before it is answered.
	ViewHistory Handler[ViewHistory, Result]
	// RecordRetentionDestruction is run by the retention process manager as the system actor.
	RecordRetentionDestruction Handler[RecordRetentionDestruction, Result]
	// RecordLogin is run by authentication as the system actor for every local login.
	RecordLogin Handler[RecordLogin, Result]
	// SetPassword sets local accounts' passwords (Deps.Accounts).
	SetPassword Handler[SetPassword, Result]
	// RecordDenial records an operation the API's role directive refused; it always
	// returns an error (KindForbidden once recorded).
	RecordDenial Handler[RecordDenial, Result]

	// store is what VerifyStream reads; x what AuditSessionOf loads with.
	store EventStore
	x     *executor
}

// NewApp builds every handler over d, each wrapped once by the decorators all handlers
// share (logging and timing, see withLogging). It refuses nil dependencies and a nil
// logger.
func NewApp(d Deps, log *slog.Logger) (*App, error) {
	if log == nil {
		return nil, errNilLogger
	}
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	a := &App{store: x.d.Store, x: x}
	handle(&a.Bootstrap, log, x.bootstrap)
	handle(&a.ChangeOrganizationSettings, log, x.changeOrganizationSettings)
	handle(&a.ConfigureIdentityProvider, log, x.configureIdentityProvider)
	handle(&a.RemoveIdentityProvider, log, x.removeIdentityProvider)
	handle(&a.RegisterUser, log, x.registerUser)
	handle(&a.ChangeUserRole, log, x.changeUserRole)
	handle(&a.DeactivateUser, log, x.deactivateUser)
	handle(&a.CreateAPIKey, log, x.createAPIKey)
	handle(&a.RevokeAPIKey, log, x.revokeAPIKey)
	handle(&a.RecordAPIKeyUse, log, x.recordAPIKeyUse)
	handle(&a.CreateSpace, log, x.createSpace)
	handle(&a.AddSpaceMember, log, x.addSpaceMember)
	handle(&a.RemoveSpaceMember, log, x.removeSpaceMember)
	handle(&a.ChangeSpaceMemberRole, log, x.changeSpaceMemberRole)
	handle(&a.EnableSpaceModels, log, x.enableSpaceModels)
	handle(&a.DeleteSpace, log, x.deleteSpace)
	handle(&a.CreateAssistant, log, x.createAssistant)
	handle(&a.UpdateAssistant, log, x.updateAssistant)
	handle(&a.DeleteAssistant, log, x.deleteAssistant)
	handle(&a.IngestDocument, log, x.ingestDocument)
	handle(&a.DeleteDocument, log, x.deleteDocument)
	handle(&a.ViewDocument, log, x.viewDocument)
	handle(&a.RecordSearch, log, x.recordSearch)
	handle(&a.RecordAccessQuery, log, x.recordAccessQuery)
	handle(&a.RecordAuditSubscription, log, x.recordAuditSubscription)
	handle(&a.RecordLogout, log, x.recordLogout)
	handle(&a.StartConversation, log, x.startConversation)
	handle(&a.SendMessage, log, x.sendMessage)
	handle(&a.Ask, log, x.ask)
	handle(&a.RecordModelInvocation, log, x.recordModelInvocation)
	handle(&a.RequestErasure, log, x.requestErasure)
	handle(&a.RestoreErasure, log, x.restoreErasure)
	handle(&a.CompleteErasure, log, x.completeErasure)
	handle(&a.CertifyErasure, log, x.certifyErasure)
	handle(&a.DeleteConversation, log, x.deleteConversation)
	handle(&a.PlaceLegalHold, log, x.placeLegalHold)
	handle(&a.LiftLegalHold, log, x.liftLegalHold)
	handle(&a.ViewAuditLog, log, x.viewAuditLog)
	handle(&a.ViewAuditIntegrity, log, x.viewAuditIntegrity)
	handle(&a.ExportAuditLog, log, x.exportAuditLog)
	handle(&a.ExportEvidence, log, x.exportEvidence)
	handle(&a.ExportData, log, x.exportData)
	handle(&a.ViewModelInvocations, log, x.viewModelInvocations)
	handle(&a.ViewHistory, log, x.viewHistory)
	handle(&a.RecordRetentionDestruction, log, x.recordRetentionDestruction)
	handle(&a.RecordLogin, log, x.recordLogin)
	handle(&a.SetPassword, log, x.setPassword)
	handle(&a.RecordDenial, log, x.recordDenial)
	return a, nil
}

// handle sets *h to the use case fn, decorated and named after its command type C.
func handle[C, R any](h *Handler[C, R], log *slog.Logger, fn func(context.Context, C) (R, error)) {
	*h = withLogging(reflect.TypeFor[C]().Name(), log, HandlerFunc[C, R](fn))
}
