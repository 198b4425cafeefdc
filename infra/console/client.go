package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error is an error the GraphQL API answered: its extensions.code (UNAUTHENTICATED,
// FORBIDDEN, INVALID, …) and its public message.
type Error struct {
	Code    string
	Message string
}

// Error returns the message with its code.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// client calls the public GraphQL handler in-process, exactly as a remote client would: a
// POST to /graphql with the caller's own bearer token and the caller's address, so every
// authentication, authorisation, rate-limit and audit rule applies to the console's reads.
type client struct {
	handler http.Handler
	path    string
}

// gqlResponse is a GraphQL response as the wire carries it.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// do runs one operation for the browser request r with token ("" for none) and decodes its
// data into out. The first GraphQL error, if any, is returned as *Error.
func (c client) do(r *http.Request, token, query string, vars map[string]any, out any) error {
	return c.doCtx(r.Context(), r.RemoteAddr, token, query, vars, out)
}

func (c client) doCtx(ctx context.Context, remoteAddr, token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.RemoteAddr = remoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.handler.ServeHTTP(rec, req)
	var resp gqlResponse
	if err := json.Unmarshal(rec.body.Bytes(), &resp); err != nil {
		return &Error{Code: "INTERNAL", Message: fmt.Sprintf("the GraphQL API answered status %d with no GraphQL response", rec.status)}
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		code := e.Extensions.Code
		if code == "" {
			code = "INVALID"
		}
		return &Error{Code: code, Message: strings.TrimSpace(e.Message)}
	}
	if out != nil && len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return &Error{Code: "INTERNAL", Message: "the GraphQL answer did not have the expected shape"}
		}
	}
	return nil
}

// recorder is the in-memory http.ResponseWriter the GraphQL handler answers into.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.body.Write(p)
}
