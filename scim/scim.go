// Package scim serves SCIM 2.0 provisioning (RFC 7643, RFC 7644) under /scim/v2/: the
// Users and Groups a directory (Microsoft Entra ID, Okta) pushes into one organisation,
// authenticated by a SCIM token an Admin created (the token names the organisation). It
// translates SCIM requests into commands and answers from the organisation's SCIM
// directory; every authenticated call is recorded in the token's call log.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// The SCIM schema URNs Arkiv speaks.
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// maxBody bounds a request body; maxCount bounds a page.
const (
	maxBody  = 1 << 20
	maxCount = 200
)

// Options configure the handler.
type Options struct {
	App *commands.App
	Log *slog.Logger
}

// Handler serves /scim/v2/.
type Handler struct {
	app *commands.App
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler returns the SCIM handler; it needs the application.
func NewHandler(o Options) (*Handler, error) {
	if o.App == nil {
		return nil, errors.New("scim: the application is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{app: o.App, log: o.Log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /scim/v2/ServiceProviderConfig", h.serviceProviderConfig)
	h.mux.HandleFunc("GET /scim/v2/ResourceTypes", h.resourceTypes)
	h.mux.HandleFunc("GET /scim/v2/Schemas", h.schemas)
	h.mux.HandleFunc("GET /scim/v2/Users", h.authed(h.listUsers))
	h.mux.HandleFunc("POST /scim/v2/Users", h.authed(h.createUser))
	h.mux.HandleFunc("GET /scim/v2/Users/{id}", h.authed(h.getUser))
	h.mux.HandleFunc("PUT /scim/v2/Users/{id}", h.authed(h.putUser))
	h.mux.HandleFunc("PATCH /scim/v2/Users/{id}", h.authed(h.patchUser))
	h.mux.HandleFunc("DELETE /scim/v2/Users/{id}", h.authed(h.deleteUser))
	h.mux.HandleFunc("GET /scim/v2/Groups", h.authed(h.listGroups))
	h.mux.HandleFunc("POST /scim/v2/Groups", h.authed(h.createGroup))
	h.mux.HandleFunc("GET /scim/v2/Groups/{id}", h.authed(h.getGroup))
	h.mux.HandleFunc("PUT /scim/v2/Groups/{id}", h.authed(h.putGroup))
	h.mux.HandleFunc("PATCH /scim/v2/Groups/{id}", h.authed(h.patchGroup))
	h.mux.HandleFunc("DELETE /scim/v2/Groups/{id}", h.authed(h.deleteGroup))
	return h, nil
}

// ServeHTTP implements http.Handler; an unknown path is a SCIM 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := h.mux.Handler(probe); p != "" {
				writeError(w, http.StatusMethodNotAllowed, "", "method not allowed")
				return
			}
		}
		writeError(w, http.StatusNotFound, "", "no such SCIM endpoint")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// call is one authenticated SCIM request.
type call struct {
	auth commands.ScimAuth
	r    *http.Request
	base string // e.g. https://host/scim/v2
}

func (c call) meta() commands.Meta {
	id := uuid.NewString()
	return commands.Meta{CommandID: id, ActorID: domain.SystemActor, CorrelationID: id, Reason: commands.ScimReason(c.auth.TokenID)}
}

func (c call) target(ifMatch int) commands.ScimTarget {
	return commands.ScimTarget{OrganizationID: c.auth.OrganizationID, TokenID: c.auth.TokenID, IfMatch: ifMatch}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// authed authenticates the bearer SCIM token, runs fn and records the call in the token's
// call log (method, path, status) with the token's id.
func (h *Handler) authed(fn func(w http.ResponseWriter, c call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="SCIM"`)
			writeError(w, http.StatusUnauthorized, "", "a SCIM bearer token is required")
			return
		}
		a, err := h.app.AuthenticateScim(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			if domain.Is(domain.KindUnauthenticated, err) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="SCIM", error="invalid_token"`)
			}
			h.fail(w, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		scheme := "https"
		if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") != "https" {
			scheme = "http"
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		fn(sw, call{auth: a, r: r, base: scheme + "://" + r.Host + "/scim/v2"})
		ctx := context.WithoutCancel(r.Context())
		id := uuid.NewString()
		if _, err := h.app.RecordScimCall.Handle(ctx, commands.RecordScimCall{
			Meta:       commands.Meta{CommandID: id, ActorID: domain.SystemActor, CorrelationID: id},
			ScimTarget: commands.ScimTarget{OrganizationID: a.OrganizationID, TokenID: a.TokenID},
			Method:     r.Method, Path: r.URL.Path, Status: sw.status,
		}); err != nil {
			h.log.Warn("scim: recording a call failed", "kind", domain.KindOf(err).String())
		}
	}
}

// scimError is RFC 7644 §3.12's error response.
type scimError struct {
	Schemas  []string `json:"schemas"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	Status   string   `json:"status"`
}

func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	writeJSON(w, status, scimError{Schemas: []string{SchemaError}, ScimType: scimType, Detail: detail, Status: strconv.Itoa(status)})
}

// fail answers err by its kind: invalid 400 invalidValue, unauthenticated 401, forbidden
// 403, not found 404, conflict 409 uniqueness, erased 404, unavailable 503, else 500.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	msg := domain.PublicMessage(err)
	switch domain.KindOf(err) {
	case domain.KindInvalid:
		writeError(w, http.StatusBadRequest, "invalidValue", msg)
	case domain.KindUnauthenticated:
		writeError(w, http.StatusUnauthorized, "", msg)
	case domain.KindForbidden:
		writeError(w, http.StatusForbidden, "", msg)
	case domain.KindNotFound, domain.KindErased:
		writeError(w, http.StatusNotFound, "", msg)
	case domain.KindConflict:
		writeError(w, http.StatusConflict, "uniqueness", msg)
	case domain.KindUnavailable:
		writeError(w, http.StatusServiceUnavailable, "", msg)
	default:
		h.log.Error("scim: request failed", "kind", domain.KindOf(err).String(), "err", err)
		writeError(w, http.StatusInternalServerError, "", "internal error")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// decode reads a JSON object body into v; anything else is 400 invalidSyntax (false).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	var raw map[string]json.RawMessage
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(r.Body); err != nil {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body could not be read")
		return false
	}
	if err := json.Unmarshal(body.Bytes(), &raw); err != nil {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body is not a JSON object")
		return false
	}
	if err := json.Unmarshal(body.Bytes(), v); err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", "an attribute has a value of the wrong type")
		return false
	}
	return true
}

// etag renders a version; ifMatch parses the If-Match header: 0 for none or "*", -1 for
// one that names no version of ours (it matches nothing).
func etag(v int) string { return fmt.Sprintf(`W/"%d"`, v) }

func ifMatch(r *http.Request) int {
	s := strings.TrimSpace(r.Header.Get("If-Match"))
	if s == "" || s == "*" {
		return 0
	}
	s = strings.Trim(strings.TrimPrefix(s, "W/"), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return -1
	}
	return n
}

// checkVersion answers 412 when the request's If-Match does not match have.
func checkVersion(w http.ResponseWriter, r *http.Request, have int) (int, bool) {
	want := ifMatch(r)
	if want != 0 && want != have {
		writeError(w, http.StatusPreconditionFailed, "", "the resource has changed (If-Match does not match its version)")
		return 0, false
	}
	return want, true
}

// filter is a parsed `attribute eq "value"`.
type filter struct{ attr, value string }

// parseFilter parses the one filter form Arkiv answers, `attr eq "value"`, with attr one
// of allowed (case-insensitive); empty is no filter.
func parseFilter(s string, allowed ...string) (*filter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	parts := strings.SplitN(s, " ", 3)
	if len(parts) != 3 || !strings.EqualFold(parts[1], "eq") {
		return nil, errors.New(`only filters of the form attribute eq "value" are supported`)
	}
	v := strings.TrimSpace(parts[2])
	unq, err := strconv.Unquote(v)
	if err != nil || !strings.HasPrefix(v, `"`) {
		return nil, errors.New("the filter's value must be a quoted string")
	}
	for _, a := range allowed {
		if strings.EqualFold(parts[0], a) {
			return &filter{attr: a, value: unq}, nil
		}
	}
	return nil, fmt.Errorf("filtering by %q is not supported", parts[0])
}

// page reads startIndex (1-based) and count.
func page(w http.ResponseWriter, r *http.Request) (start, count int, ok bool) {
	start, count = 1, 100
	q := r.URL.Query()
	if s := q.Get("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidValue", "startIndex must be an integer")
			return 0, 0, false
		}
		start = max(n, 1)
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidValue", "count must be an integer")
			return 0, 0, false
		}
		count = min(max(n, 0), maxCount)
	}
	return start, count, true
}

// listResponse is RFC 7644 §3.4.2's ListResponse.
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

func writeList[T any](w http.ResponseWriter, all []T, start, count int, render func(T) any) {
	out := listResponse{Schemas: []string{SchemaListResponse}, TotalResults: len(all), StartIndex: start, Resources: []any{}}
	for i := start - 1; i < len(all) && len(out.Resources) < count; i++ {
		out.Resources = append(out.Resources, render(all[i]))
	}
	out.ItemsPerPage = len(out.Resources)
	writeJSON(w, http.StatusOK, out)
}

// meta is a resource's meta attribute.
type meta struct {
	ResourceType string `json:"resourceType"`
	Version      string `json:"version"`
	Location     string `json:"location"`
}
