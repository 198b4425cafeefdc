// Package graphql serves schema.graphql, Arkiv's API contract, over HTTP. The schema's
// types bind to readmodels' rows (gqlgen.yml), so resolvers — one file per area of the
// schema — are a few lines into commands (mutations) or readmodels (queries); the code gqlgen
// generates lives apart, in graphql/generated.
package graphql

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/history"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Resolver is the root resolver; it holds the use cases and read models resolvers call.
type Resolver struct {
	// Version is the server's version string.
	Version string
	// App runs the commands (mutations).
	App *commands.App
	// Reads answers the queries, scoped to the caller's organisation.
	Reads *readmodels.Reader
	// Sessions performs local logins and logouts.
	Sessions Sessions
	// Waiter lets a query wait until the read models have reached a log position.
	Waiter Waiter
	// Projections names the read-model projections a consistentAt query waits for.
	Projections []string
	// Replies carries the tokens of replies to replyStream subscribers; nil disables
	// streaming.
	Replies *ReplyBroker
	// Feed delivers new messages and audit entries to subscriptions.
	Feed Feed
	// Ledger reads the verifiable log; nil answers its fields UNAVAILABLE.
	Ledger Ledger
	// Evidence runs DPIA evidence exports; nil answers them UNAVAILABLE.
	Evidence EvidenceExports
	// AuditExports runs background audit exports; nil answers them UNAVAILABLE.
	AuditExports AuditExportJobs
	// OrgExports runs whole-organisation exports; nil answers them UNAVAILABLE.
	OrgExports OrganizationExports
	// SubjectExports produces subject access exports; nil answers them UNAVAILABLE.
	SubjectExports SubjectExports
	// ConsistencyBound bounds how long a query waits for consistentAt (default 5 s).
	ConsistencyBound time.Duration
	// History answers the as-of questions by folding the organisation's events; nil leaves
	// them unavailable.
	History *history.Replayer
	// Clock tells the time; nil is the wall clock.
	Clock domain.Clock
	// Log receives resolver failures without personal data.
	Log *slog.Logger
	// Checkpoints gives audit exports the signed ledger checkpoint that covers them; nil
	// leaves the footer's checkpoint empty.
	Checkpoints readmodels.CheckpointSource
}

var _ generated.ResolverRoot = (*Resolver)(nil)

// Sessions is what the API needs of local accounts (infra/auth.Authenticator).
type Sessions interface {
	Login(ctx context.Context, orgID, login, password, remoteIP string) (token string, idle time.Duration, err error)
	Logout(ctx context.Context, token string) error
	AuthenticateToken(ctx context.Context, token string) (auth.Principal, error)
	// SignInProviders lists an organisation's sign-in providers; EndSessionURL the
	// provider's end-session URL of a session its sign-in opened.
	SignInProviders(ctx context.Context, orgID string) ([]auth.SignInProvider, error)
	EndSessionURL(ctx context.Context, token string) string
}

// Waiter waits until the named projections have applied the event at a commit position
// (engine.Waiter).
type Waiter interface {
	WaitFor(ctx context.Context, names []string, position uint64, bound time.Duration) error
}

// Feed delivers what subscriptions stream. Each subscribe call returns a channel that is
// closed when ctx ends; the caller has been authorised already.
type Feed interface {
	// Messages streams the messages recorded in a conversation from now on.
	Messages(ctx context.Context, orgID, conversationID string) (<-chan *readmodels.Message, error)
	// Audit streams the audit entries of an organisation from now on.
	Audit(ctx context.Context, orgID string) (<-chan *readmodels.AuditEntry, error)
}

// The resolvers of the schema's types, each implemented in the file of its area.
type (
	accessResolver               struct{ *Resolver }
	allowedModelInputResolver    struct{ *Resolver }
	createAPIKeyPayloadResolver  struct{ *Resolver }
	mutationResultResolver       struct{ *Resolver }
	setPasswordPayloadResolver   struct{ *Resolver }
	spaceMemberResolver          struct{ *Resolver }
	auditEntryResolver           struct{ *Resolver }
	conversationResolver         struct{ *Resolver }
	documentResolver             struct{ *Resolver }
	excerptResolver              struct{ *Resolver }
	messageResolver              struct{ *Resolver }
	modelInvocationResolver      struct{ *Resolver }
	mutationResolver             struct{ *Resolver }
	organizationResolver         struct{ *Resolver }
	organizationSettingsResolver struct{ *Resolver }
	pageInfoResolver             struct{ *Resolver }
	queryResolver                struct{ *Resolver }
	spaceResolver                struct{ *Resolver }
	subscriptionResolver         struct{ *Resolver }
)

// Access implements generated.ResolverRoot.
func (r *Resolver) Access() generated.AccessResolver { return accessResolver{r} }

// AllowedModelInput implements generated.ResolverRoot.
func (r *Resolver) AllowedModelInput() generated.AllowedModelInputResolver {
	return allowedModelInputResolver{r}
}

// CreateApiKeyPayload implements generated.ResolverRoot.
func (r *Resolver) CreateApiKeyPayload() generated.CreateApiKeyPayloadResolver {
	return createAPIKeyPayloadResolver{r}
}

// MutationResult implements generated.ResolverRoot.
func (r *Resolver) MutationResult() generated.MutationResultResolver {
	return mutationResultResolver{r}
}

// SetPasswordPayload implements generated.ResolverRoot.
func (r *Resolver) SetPasswordPayload() generated.SetPasswordPayloadResolver {
	return setPasswordPayloadResolver{r}
}

// SpaceMember implements generated.ResolverRoot.
func (r *Resolver) SpaceMember() generated.SpaceMemberResolver { return spaceMemberResolver{r} }

// AuditEntry implements generated.ResolverRoot.
func (r *Resolver) AuditEntry() generated.AuditEntryResolver { return auditEntryResolver{r} }

// Conversation implements generated.ResolverRoot.
func (r *Resolver) Conversation() generated.ConversationResolver { return conversationResolver{r} }

// Document implements generated.ResolverRoot.
func (r *Resolver) Document() generated.DocumentResolver { return documentResolver{r} }

// Excerpt implements generated.ResolverRoot.
func (r *Resolver) Excerpt() generated.ExcerptResolver { return excerptResolver{r} }

// Message implements generated.ResolverRoot.
func (r *Resolver) Message() generated.MessageResolver { return messageResolver{r} }

// ModelInvocation implements generated.ResolverRoot.
func (r *Resolver) ModelInvocation() generated.ModelInvocationResolver {
	return modelInvocationResolver{r}
}

// Mutation implements generated.ResolverRoot.
func (r *Resolver) Mutation() generated.MutationResolver { return mutationResolver{r} }

// Organization implements generated.ResolverRoot.
func (r *Resolver) Organization() generated.OrganizationResolver { return organizationResolver{r} }

// OrganizationSettings implements generated.ResolverRoot.
func (r *Resolver) OrganizationSettings() generated.OrganizationSettingsResolver {
	return organizationSettingsResolver{r}
}

// PageInfo implements generated.ResolverRoot.
func (r *Resolver) PageInfo() generated.PageInfoResolver { return pageInfoResolver{r} }

// Query implements generated.ResolverRoot.
func (r *Resolver) Query() generated.QueryResolver { return queryResolver{r} }

// Space implements generated.ResolverRoot.
func (r *Resolver) Space() generated.SpaceResolver { return spaceResolver{r} }

// Subscription implements generated.ResolverRoot.
func (r *Resolver) Subscription() generated.SubscriptionResolver { return subscriptionResolver{r} }

// caller returns the authenticated principal of the request.
func caller(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok || p.OrganizationID == "" {
		return auth.Principal{}, domain.E(domain.KindUnauthenticated, "graphql.caller", "authentication required")
	}
	if p.PasswordChangeRequired && !passwordChangeField(ctx) {
		return auth.Principal{}, domain.E(domain.KindForbidden, "graphql.caller",
			"a password change is required: set a new password with setPassword, then log in again")
	}
	return p, nil
}

// passwordChangeField reports whether the operation being resolved is one a session that
// must change its password may use: setPassword and logout.
func passwordChangeField(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).Operation == nil ||
		graphql.GetOperationContext(ctx).Operation.Operation != ast.Mutation {
		return false
	}
	// The root field of the mutation being resolved (RootFieldContext.Object names the
	// field, not the type, so only Field is read).
	rc := graphql.GetRootFieldContext(ctx)
	if rc == nil || rc.Field.Field == nil {
		return false
	}
	return rc.Field.Name == "setPassword" || rc.Field.Name == "logout"
}

// userCaller returns the principal of a request made by a user (not an assistant's key).
func userCaller(ctx context.Context) (auth.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return p, err
	}
	if p.UserID == "" {
		return p, domain.E(domain.KindForbidden, "graphql.caller", "an assistant's API key cannot run this operation")
	}
	return p, nil
}

// meta returns the metadata of a command run for the calling user: a fresh command id and
// the user as the actor.
func meta(ctx context.Context) (commands.Meta, auth.Principal, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return commands.Meta{}, p, err
	}
	id := uuid.NewString()
	return commands.Meta{CommandID: id, ActorID: p.UserID, CorrelationID: id}, p, nil
}

// run runs a command for the calling user and turns its result into the mutation payload.
func run[C any](ctx context.Context, h commands.Handler[C, commands.Result], build func(commands.Meta) C) (*generated.MutationResult, error) {
	m, _, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	res, err := h.Handle(ctx, build(m))
	if err != nil {
		return nil, err
	}
	return &generated.MutationResult{ID: res.ID, Position: position(res.Position)}, nil
}

// position renders a commit position.
func position(p uint64) string { return strconv.FormatUint(p, 10) }

// optional renders an empty string as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *Resolver) now() time.Time {
	if r.Clock != nil {
		return r.Clock.Now()
	}
	return time.Now()
}

// consistent waits until the read models have reached the position a client passed
// as consistentAt; nil waits for nothing.
func (r *Resolver) consistent(ctx context.Context, at *string) error {
	if at == nil || *at == "" {
		return nil
	}
	pos, err := strconv.ParseUint(*at, 10, 64)
	if err != nil {
		return domain.E(domain.KindInvalid, "graphql.consistentAt", "consistentAt must be a position returned by a mutation")
	}
	bound := r.ConsistencyBound
	if bound <= 0 {
		bound = 5 * time.Second
	}
	if r.Waiter == nil {
		return domain.E(domain.KindUnavailable, "graphql.consistentAt", "read-your-writes is not available")
	}
	return r.Waiter.WaitFor(ctx, r.Projections, pos, bound)
}

// reader returns the caller (a user) once the read models have reached consistentAt.
func (r *Resolver) reader(ctx context.Context, consistentAt *string) (auth.Principal, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return p, err
	}
	return p, r.consistent(ctx, consistentAt)
}

// page validates first (1 to 100, default def) and after.
func page(first *int, after *string, def int) (readmodels.Page, error) {
	p := readmodels.Page{First: def}
	if first != nil {
		p.First = *first
	}
	if p.First < 1 || p.First > 100 {
		return p, domain.E(domain.KindInvalid, "graphql.page", "first must be 1 to 100")
	}
	p.After = deref(after)
	return p, nil
}

// EndCursor renders an empty page's cursor as null.
func (pageInfoResolver) EndCursor(_ context.Context, obj *readmodels.PageInfo) (*string, error) {
	return optional(obj.EndCursor), nil
}

// empty is an empty page of a connection.
func empty[T any]() *readmodels.Connection[T] {
	return &readmodels.Connection[T]{Edges: []readmodels.Edge[T]{}}
}

// Version is the resolver for the version field.
func (r queryResolver) Version(context.Context) (string, error) { return r.Resolver.Version, nil }
