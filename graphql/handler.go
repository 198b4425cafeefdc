package graphql

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
)

// HandlerOptions hardens the GraphQL endpoint.
type HandlerOptions struct {
	// Dev enables introspection (and the caller may mount a playground).
	Dev bool
	// MaxDepth bounds the nesting of selections (default 12).
	MaxDepth int
	// MaxComplexity bounds gqlgen's complexity score of an operation (default 500).
	MaxComplexity int
	// MaxBodyBytes bounds the request body (default 1 MiB).
	MaxBodyBytes int64
	Log          *slog.Logger
	// Authenticate checks the token a websocket client sends in its connection_init payload
	// ({"Authorization": "Bearer …"}), for clients that cannot set headers on the upgrade
	// request. Nil accepts only the upgrade request's own credentials.
	Authenticate func(ctx context.Context, token string) (auth.Principal, error)
	// RemoteIP returns the client address of a request (for login rate limits); nil uses
	// the connection's address.
	RemoteIP func(*http.Request) string
	// Introspection enables introspection outside Dev (ARKIV_GRAPHQL_INTROSPECTION=true).
	Introspection bool
	// AllowedOrigins lists the browser origins ("https://app.example.com", or "*") that
	// may open a WebSocket besides the server's own; requests without an Origin header
	// (non-browser clients) are always allowed (ARKIV_ALLOWED_ORIGINS).
	AllowedOrigins []string
	// MaxSubscriptionsPerConnection bounds the operations a WebSocket runs at once
	// (default 20; ARKIV_MAX_SUBSCRIPTIONS_PER_CONNECTION).
	MaxSubscriptionsPerConnection int
	// WSInitTimeout is how long a WebSocket may wait before connection_init (default 10 s).
	WSInitTimeout time.Duration
	// WSRecheckInterval is how often an open WebSocket's credential and role are checked
	// again (default 2 s).
	WSRecheckInterval time.Duration
}

// NewHandler returns the /graphql HTTP handler over the resolver.
func NewHandler(r *Resolver, o HandlerOptions) http.Handler {
	if o.MaxDepth == 0 {
		o.MaxDepth = 12
	}
	if o.MaxComplexity == 0 {
		o.MaxComplexity = 500
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: r, Directives: Directives(r.Reads)}))
	ws := wsOptions{
		authenticate: o.Authenticate, roles: r.Reads, origins: newOriginPolicy(o.AllowedOrigins),
		initTimeout: o.WSInitTimeout, recheck: o.WSRecheckInterval, keepAlive: 10 * time.Second,
		maxOps: o.MaxSubscriptionsPerConnection, log: o.Log,
	}
	if ws.initTimeout <= 0 {
		ws.initTimeout = 10 * time.Second
	}
	if ws.recheck <= 0 {
		ws.recheck = 2 * time.Second
	}
	if ws.maxOps <= 0 {
		ws.maxOps = 20
	}
	srv.AddTransport(wsTransport{o: ws})
	srv.AddTransport(legacyWebsocket(ws))
	// Parsed and validated operations are kept by their text: clients send the same few
	// operations over and over, and parsing and validating them again costs more than
	// resolving a small query.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(httpTransport{})
	if o.Dev || o.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.FixedComplexityLimit(o.MaxComplexity))
	srv.Use(depthLimit{max: o.MaxDepth})
	// Each operation learns the caller's role afresh: a WebSocket runs many operations,
	// and one must not answer with the role its first operation saw.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withRequestCache(ctx))
	})
	srv.SetErrorPresenter(errorPresenter(o.Log))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		o.Log.Error("graphql resolver panicked", "panic", v)
		return domain.E(domain.KindInternal, "graphql", "internal error")
	})
	max := o.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, max)
		w.Header().Set("Cache-Control", "no-store")
		ip := ""
		if o.RemoteIP != nil {
			ip = o.RemoteIP(req)
		}
		ctx := withRequestInfo(withRequestCache(req.Context()), req, ip)
		srv.ServeHTTP(w, req.WithContext(ctx))
	})
}

// errorPresenter maps Arkiv's error kinds to extensions.code and hides internal detail.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var de *domain.Error
		if !errors.As(err, &de) {
			// Errors gqlgen raised itself (parse, validation, limits) are the caller's.
			if gerr.Extensions == nil || gerr.Extensions["code"] == nil {
				if gerr.Extensions == nil {
					gerr.Extensions = map[string]any{}
				}
				var ge *gqlerror.Error
				if errors.As(err, &ge) && ge.Err == nil {
					gerr.Extensions["code"] = domain.KindInvalid.String()
					return gerr
				}
				log.Error("graphql: unclassified error", "op", "graphql", "kind", "INTERNAL", "err_type", errorType(err))
				gerr.Message = "internal error"
				gerr.Extensions["code"] = domain.KindInternal.String()
			} else {
				gerr.Extensions["code"] = domain.KindInvalid.String()
			}
			return gerr
		}
		kind := domain.KindOf(err)
		if kind == domain.KindInternal || kind == domain.KindUnavailable {
			log.Error("graphql: request failed", "op", de.Op, "kind", kind.String())
		}
		gerr.Message = domain.PublicMessage(err)
		if kind == domain.KindInternal {
			gerr.Message = "internal error"
		}
		gerr.Extensions = map[string]any{"code": kind.String()}
		return gerr
	}
}

func errorType(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return fmtType(err)
}

// depthLimit refuses operations whose selections nest deeper than max; introspection
// fields are not counted (see selectionDepth).
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0); depth > d.max {
		e := gqlerror.Errorf("operation nests %d levels deep; the limit is %d", depth, d.max)
		e.Extensions = map[string]any{"code": domain.KindInvalid.String()}
		return e
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int) int {
	max := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				// Introspection (__schema, __type) walks the schema's own finite type graph:
				// the standard query of graphql-js, GraphiQL and codegen tools nests 15
				// levels of ofType and must not be refused. It counts as one level.
				d = depth + 1
				break
			}
			d = selectionDepth(s.SelectionSet, depth+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth)
			}
		}
		if d > max {
			max = d
		}
	}
	return max
}
