package graphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// The media types of GraphQL over HTTP (https://graphql.github.io/graphql-over-http/).
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// httpTransport serves GraphQL over HTTP as the GraphQL-over-HTTP specification says:
//
//   - POST takes application/json (415 for any other content type); GET takes the
//     query, operationName, variables and extensions parameters and runs queries only
//     (405 with Allow: POST for a mutation or subscription, and for a query that records
//     an event: its justification must not land in URLs and access logs).
//   - Under application/graphql-response+json (when the client's Accept asks for it) a
//     request error — parse, validation, limits — is 400, and an execution that produced
//     only UNAUTHENTICATED errors for an anonymous caller is 401; under application/json
//     every well-formed request is answered 200.
//   - A request error has no data key.
//   - An operation refused RATE_LIMITED is 429 with Retry-After under either media type.
//   - Batching (a JSON array) is not supported (400). Automatic persisted queries are not
//     supported: a request carrying only a hash is answered PersistedQueryNotSupported, on
//     which Apollo's persisted-query link disables itself and sends the query text.
type httpTransport struct{}

var _ graphql.Transport = httpTransport{}

// Supports implements graphql.Transport.
func (httpTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && (r.Method == http.MethodGet || r.Method == http.MethodPost)
}

// recordingFields are the fields whose resolution appends an event (an access record with
// a justification): never run for a GET.
var recordingFields = map[string]map[string]bool{
	"Query": {"auditLog": true, "modelInvocations": true, "auditIntegrity": true, "auditProof": true,
		"whoCanAccess": true, "accessOf": true, "search": true, "organizationSettings": true, "assistant": true,
		"searchConnection": true, "whoCanAccessConnection": true, "accessOfConnection": true,
		// node(id:) of an Access records the Admin's read as whoCanAccess does.
		"node": true, "nodes": true},
	"Document": {"content": true},
}

// Do implements graphql.Transport.
func (httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMedia(r)
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	params, status, err := readParams(r)
	if err != nil {
		writeRequestError(w, status, err.Error(), domain.KindInvalid.String())
		return
	}
	if params.Query == "" && params.Extensions["persistedQuery"] != nil {
		writeRequestError(w, http.StatusOK, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
		return
	}
	params.Headers = r.Header
	params.ReadTime.End = graphql.Now()
	ctx := r.Context()
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		if secs := retryAfter(resp.Errors); secs > 0 {
			// Under either media type: clients and proxies back off on 429 alone.
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeJSON(w, status, struct {
			Errors gqlerror.List `json:"errors"`
		}{resp.Errors})
		return
	}
	if r.Method == http.MethodGet {
		op := oc.Operation
		if op.Operation != ast.Query {
			w.Header().Set("Allow", http.MethodPost)
			writeRequestError(w, http.StatusMethodNotAllowed, "a "+string(op.Operation)+" must be sent with POST", domain.KindInvalid.String())
			return
		}
		if f := recordingField(op.SelectionSet, "Query"); f != "" {
			w.Header().Set("Allow", http.MethodPost)
			writeRequestError(w, http.StatusMethodNotAllowed, f+" records an access event: send the query with POST", domain.KindInvalid.String())
			return
		}
	}
	responses, rctx := exec.DispatchOperation(graphql.WithOperationContext(ctx, oc), oc)
	resp := responses(rctx)
	status = http.StatusOK
	if _, authed := auth.FromContext(ctx); media == mediaGraphQLResponse && !authed && unauthenticated(resp) {
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeResponse(w, status, resp)
}

// writeResponse writes an executed operation's response. Its data is already JSON, written by
// gqlgen's marshalers: it is copied as it is, where encoding/json would scan and compact it
// again (a json.RawMessage is re-validated byte by byte), which cost as much as a fifth of
// the response's own marshalling.
func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	if resp == nil || resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		writeJSON(w, status, resp)
		return
	}
	b := make([]byte, 0, len(resp.Data)+64)
	b = append(b, '{')
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			writeJSON(w, status, resp)
			return
		}
		b = append(append(append(b, `"errors":`...), errs...), ',')
	}
	b = append(b, `"data":`...)
	if len(resp.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, resp.Data...)
	}
	if len(resp.Extensions) > 0 {
		ext, err := json.Marshal(resp.Extensions)
		if err != nil {
			writeJSON(w, status, resp)
			return
		}
		b = append(append(b, `,"extensions":`...), ext...)
	}
	b = append(b, '}')
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readParams decodes the request's parameters; on error it returns the HTTP status.
func readParams(r *http.Request) (*graphql.RawParams, int, error) {
	p := &graphql.RawParams{}
	p.ReadTime.Start = graphql.Now()
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, http.StatusBadRequest, errors.New("the query string cannot be parsed")
		}
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		for name, dst := range map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(name); v != "" {
				if err := decodeJSON(strings.NewReader(v), dst); err != nil {
					return nil, http.StatusBadRequest, errors.New(name + " must be a JSON object")
				}
			}
		}
		if p.Query == "" && p.Extensions["persistedQuery"] == nil {
			return nil, http.StatusBadRequest, errors.New("the query parameter is missing")
		}
		return p, 0, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != mediaJSON {
		return nil, http.StatusUnsupportedMediaType, errors.New("send the request as application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, errors.New("the request body is too large")
		}
		return nil, http.StatusBadRequest, errors.New("the request body cannot be read")
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		return nil, http.StatusBadRequest, errors.New("batched requests are not supported: send one operation per request")
	}
	if err := decodeJSON(bytes.NewReader(body), p); err != nil {
		return nil, http.StatusBadRequest, errors.New("the request body must be a JSON object with a query")
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, http.StatusBadRequest, errors.New("the request has no query")
	}
	return p, 0, nil
}

func decodeJSON(r io.Reader, v any) error {
	d := json.NewDecoder(r)
	d.UseNumber()
	return d.Decode(v)
}

// responseMedia picks the response's media type from Accept: application/graphql-response+json
// when the client lists it before application/json (or alone), application/json otherwise.
func responseMedia(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		case mediaJSON:
			return mediaJSON
		}
	}
	return mediaJSON
}

// recordingField returns the first field of set (on type typ) that records an event, "".
func recordingField(set ast.SelectionSet, typ string) string {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			parent := typ
			if s.ObjectDefinition != nil {
				parent = s.ObjectDefinition.Name
			}
			if recordingFields[parent][s.Name] {
				return parent + "." + s.Name
			}
			child := ""
			if s.Definition != nil {
				child = s.Definition.Type.Name()
			}
			if f := recordingField(s.SelectionSet, child); f != "" {
				return f
			}
		case *ast.InlineFragment:
			if f := recordingField(s.SelectionSet, typ); f != "" {
				return f
			}
		case *ast.FragmentSpread:
			if s.Definition != nil {
				if f := recordingField(s.Definition.SelectionSet, typ); f != "" {
					return f
				}
			}
		}
	}
	return ""
}

// unauthenticated reports whether every error of a response is UNAUTHENTICATED (for an
// anonymous request: it needed credentials).
func unauthenticated(resp *graphql.Response) bool {
	if resp == nil || len(resp.Errors) == 0 {
		return false
	}
	for _, e := range resp.Errors {
		if e.Extensions["code"] != domain.KindUnauthenticated.String() {
			return false
		}
	}
	return true
}

func writeRequestError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, struct {
		Errors gqlerror.List `json:"errors"`
	}{gqlerror.List{{Message: msg, Extensions: map[string]any{"code": code}}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
