// Package httpserver serves Arkiv's HTTP endpoints: /graphql, /healthz (the process is up)
// and /readyz (every dependency answers), with optional TLS 1.2+ and graceful shutdown.
package httpserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/arkiv/arkiv/infra/graphiql"
)

// CipherSuites are the TLS 1.2 suites the server accepts: forward-secret (ECDHE) AEADs only,
// no CBC, no RSA key exchange, no 3DES or RC4. TLS 1.3's suites are fixed by Go and all
// qualify.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Check is one readiness probe, e.g. "postgres" pinging the pool.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Config describes the server.
type Config struct {
	// Listen is the address to bind, e.g. "127.0.0.1:8080" (":0" picks a free port).
	Listen string
	// TLSCert and TLSKey, when both set, serve HTTPS with TLS 1.2 or newer.
	TLSCert, TLSKey string
	// GraphQL handles /graphql.
	GraphQL http.Handler
	// Playground mounts the GraphiQL playground at / (its assets under /playground/, all
	// served from the binary).
	Playground bool
	// Console, when set, handles the compliance console at /console (infra/console).
	Console http.Handler
	// Exports, when set, serves the files of background exports at /exports/.
	Exports http.Handler
	// SignIn, when set, handles sign-in through identity providers under /auth/
	// (auth.Authenticator.SignInHandler).
	SignIn http.Handler
	// SCIM, when set, handles SCIM 2.0 provisioning under /scim/v2/ (scim.Handler).
	SCIM http.Handler
	// Checks are run by /readyz.
	Checks []Check
	// ShutdownTimeout bounds the graceful shutdown (default 15s).
	ShutdownTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send a request's body (default 30s);
	// a body trickled in one byte at a time is cut off then. WebSocket upgrades are exempt:
	// they have no body and live for as long as the subscription.
	BodyTimeout time.Duration
	Log         *slog.Logger
}

// Server is a bound, not yet serving HTTP server.
type Server struct {
	cfg Config
	ln  net.Listener
	srv *http.Server
	tls bool
}

// Listen binds the address so the caller can print the URL before serving.
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("TLS needs both ARKIV_TLS_CERT and ARKIV_TLS_KEY")
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	if cfg.GraphQL != nil {
		mux.Handle("/graphql", cfg.GraphQL)
	}
	if cfg.Playground {
		pg := graphiql.Handler("/playground", "/graphql")
		mux.Handle("GET /{$}", pg)
		mux.Handle("GET /playground/", pg)
	}
	if cfg.Exports != nil {
		mux.Handle("/exports/", cfg.Exports)
	}
	if cfg.Console != nil {
		mux.Handle("/console", cfg.Console)
		mux.Handle("/console/", cfg.Console)
	}
	if cfg.SignIn != nil {
		mux.Handle("/auth/", cfg.SignIn)
	}
	if cfg.SCIM != nil {
		mux.Handle("/scim/v2/", cfg.SCIM)
	}
	s.srv = &http.Server{
		Handler:           s.harden(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: CipherSuites,
			Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
		s.tls = true
	}
	s.ln = ln
	return s, nil
}

// URL is the server's base URL.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully: it stops accepting, lets
// requests in flight finish within the shutdown timeout, and returns.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	results := make([]result, len(s.cfg.Checks))
	var wg sync.WaitGroup
	for i, c := range s.cfg.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = result{Name: c.Name, OK: true}
			if err := c.Fn(ctx); err != nil {
				// The reason stays in the server's log: error strings name hosts, ports and
				// internals an anonymous caller has no business learning.
				s.cfg.Log.Warn("readiness check failed", "check", c.Name, "err", err)
				results[i] = result{Name: c.Name, Error: "unavailable"}
			}
		}()
	}
	wg.Wait()
	status, code := "ready", http.StatusOK
	for _, r := range results {
		if !r.OK {
			status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}

// harden sets the headers every response carries and bounds the time a request's body may
// take to arrive.
//   - X-Content-Type-Options: nosniff, so a browser never reinterprets a JSON answer;
//   - Cache-Control: no-store, above all for responses carrying keys, tokens and content;
//   - Referrer-Policy: no-referrer, so no URL of Arkiv's leaks to another site;
//   - X-Frame-Options: DENY, no page of Arkiv's may be framed.
func (s *Server) harden(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !isUpgrade(r) && r.Body != nil && r.Body != http.NoBody {
			// Errors mean the connection does not support deadlines; there is nothing better
			// to do than serve.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the body's read deadline once the body has been read to its end, so
// that a handler that answers slowly (a long query, a streamed reply) is not cut off.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// isUpgrade reports a WebSocket (or other protocol) upgrade request.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
