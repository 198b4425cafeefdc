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
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: r, Directives: Directives(r.Reads, r.App)}))
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
	} else {
		// Outside `arkiv dev` the schema is not for strangers to explore: no introspection
		// (refused as INVALID before execution) and no "did you mean" hints.
		srv.SetDisableSuggestion(true)
		srv.Use(refuseIntrospection{})
	}
	// The depth limit goes first: it also refuses documents whose fragments expand beyond
	// the complexity limit, which gqlgen's complexity walker (and the NUL check, which walks
	// the expanded selections) would take exponential time to walk.
	srv.Use(depthLimit{max: o.MaxDepth, maxFields: o.MaxComplexity})
	srv.Use(extension.FixedComplexityLimit(o.MaxComplexity))
	srv.Use(refuseNUL{})
	// Each operation learns the caller's role afresh: a WebSocket runs many operations,
	// and one must not answer with the role its first operation saw.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withRequestCache(ctx))
	})
	srv.SetErrorPresenter(errorPresenter(o.Log, !o.Dev))
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

// timeParseError is the error gqlgen's Time scalar returns for a malformed value: the
// caller's mistake (INVALID), not an internal one.
var timeParseError = func() string {
	_, err := graphql.UnmarshalTime("not a time")
	return err.Error()
}()

// errorPresenter maps Arkiv's error kinds to extensions.code and hides internal detail;
// hardened (serve) it also drops gqlparser's "Did you mean" hints.
func errorPresenter(log *slog.Logger, hardened bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if hardened {
			if i := strings.Index(gerr.Message, " Did you mean"); i >= 0 {
				gerr.Message = gerr.Message[:i]
			}
		}
		if strings.HasPrefix(gerr.Message, "json request body could not be decoded") {
			// gqlgen echoes the whole body after the decoder's error; the body is the
			// caller's own and may carry a password: say only what is wrong.
			gerr.Message = "the request body is not a valid GraphQL JSON request"
			gerr.Extensions = map[string]any{"code": domain.KindInvalid.String()}
			return gerr
		}
		var de *domain.Error
		if !errors.As(err, &de) {
			if gerr.Err != nil && gerr.Err.Error() == timeParseError {
				gerr.Message = "a Time must be an RFC 3339 timestamp"
				gerr.Err = nil
				gerr.Extensions = map[string]any{"code": domain.KindInvalid.String()}
				return gerr
			}
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
		if errors.Is(err, domain.ErrUnderLegalHold) {
			gerr.Extensions["reason"] = "LEGAL_HOLD"
		}
		return gerr
	}
}

// refuseIntrospection refuses __schema and __type (outside `arkiv dev`) as INVALID before
// the operation runs; __typename stays allowed.
type refuseIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = refuseIntrospection{}

func (refuseIntrospection) ExtensionName() string                   { return "RefuseIntrospection" }
func (refuseIntrospection) Validate(graphql.ExecutableSchema) error { return nil }
func (refuseIntrospection) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || !introspects(oc.Operation.SelectionSet) {
		return nil
	}
	e := gqlerror.Errorf("introspection is disabled")
	e.Extensions = map[string]any{"code": domain.KindInvalid.String()}
	return e
}

func introspects(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && introspects(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}

// refuseNUL refuses, as INVALID, an operation with a NUL character in any string it passes
// (variables or literal arguments): no name, filter or text of Arkiv contains one, and
// Postgres cannot store one, so it would otherwise surface as a server error.
type refuseNUL struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = refuseNUL{}

func (refuseNUL) ExtensionName() string                   { return "RefuseNUL" }
func (refuseNUL) Validate(graphql.ExecutableSchema) error { return nil }
func (refuseNUL) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if !nulInValue(oc.Variables) && (oc.Operation == nil || !nulInSelections(oc.Operation.SelectionSet)) {
		return nil
	}
	e := gqlerror.Errorf("a string contains a NUL character")
	e.Extensions = map[string]any{"code": domain.KindInvalid.String()}
	return e
}

func nulInValue(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || nulInValue(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if nulInValue(e) {
				return true
			}
		}
	}
	return false
}

func nulInSelections(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, a := range s.Arguments {
				if nulInAST(a.Value) {
					return true
				}
			}
			if nulInSelections(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if nulInSelections(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && nulInSelections(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}

func nulInAST(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if v.Kind == ast.StringValue || v.Kind == ast.BlockValue {
		return strings.ContainsRune(v.Raw, 0)
	}
	for _, c := range v.Children {
		if nulInAST(c.Value) {
			return true
		}
	}
	return false
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

// depthLimit refuses operations whose selections nest deeper than max, and operations that
// expand to more than maxFields fields (fragments counted as often as they are spread), whose
// complexity is at least that and which the complexity limit would refuse anyway; in time
// linear in the document. Introspection fields are not counted (see measure).
type depthLimit struct{ max, maxFields int }

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
	sh := measure(oc.Operation.SelectionSet, map[*ast.FragmentDefinition]*shape{})
	if sh.depth > d.max {
		e := gqlerror.Errorf("operation nests %d levels deep; the limit is %d", sh.depth, d.max)
		e.Extensions = map[string]any{"code": domain.KindInvalid.String()}
		return e
	}
	if d.maxFields > 0 && sh.fields > d.maxFields {
		e := gqlerror.Errorf("operation expands to more than %d fields; the limit is %d", d.maxFields, d.maxFields)
		e.Extensions = map[string]any{"code": domain.KindInvalid.String()}
		return e
	}
	return nil
}

// selectionDepth returns depth plus the nesting depth of set.
func selectionDepth(set ast.SelectionSet, depth int) int {
	return depth + measure(set, map[*ast.FragmentDefinition]*shape{}).depth
}

// shape is what the limits measure of a selection set: how deep it nests and how many fields
// it expands to (saturating at maxShapeFields).
type shape struct{ depth, fields int }

const maxShapeFields = 1 << 30

// measure returns the shape of set. Each fragment is measured once (memo), so a document
// that spreads fragments exponentially often is measured in linear time; a fragment spread
// inside itself (which validation refuses) counts as empty.
func measure(set ast.SelectionSet, memo map[*ast.FragmentDefinition]*shape) shape {
	var out shape
	for _, sel := range set {
		var s shape
		switch x := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(x.Name, "__") {
				// Introspection (__schema, __type) walks the schema's own finite type graph:
				// the standard query of graphql-js, GraphiQL and codegen tools nests 15
				// levels of ofType and must not be refused. It counts as one level and no
				// fields.
				s = shape{depth: 1}
				break
			}
			s = measure(x.SelectionSet, memo)
			s.depth++
			s.fields = min(s.fields+1, maxShapeFields)
		case *ast.InlineFragment:
			s = measure(x.SelectionSet, memo)
		case *ast.FragmentSpread:
			if x.Definition == nil {
				break
			}
			m, ok := memo[x.Definition]
			if !ok {
				m = &shape{}
				memo[x.Definition] = m // a cycle meets the empty shape
				*m = measure(x.Definition.SelectionSet, memo)
			}
			s = *m
		}
		out.depth = max(out.depth, s.depth)
		out.fields = min(out.fields+s.fields, maxShapeFields)
	}
	return out
}
