package graphql

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/arkiv/arkiv/domain"
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
	srv := handler.New(NewExecutableSchema(Config{Resolvers: r}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		Upgrader:              websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	if o.Dev {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.FixedComplexityLimit(o.MaxComplexity))
	srv.Use(depthLimit{max: o.MaxDepth})
	srv.SetErrorPresenter(errorPresenter(o.Log))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		o.Log.Error("graphql resolver panicked", "panic", v)
		return domain.E(domain.KindInternal, "graphql", "internal error")
	})
	max := o.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, max)
		srv.ServeHTTP(w, req)
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

// depthLimit refuses operations whose selections nest deeper than max.
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
