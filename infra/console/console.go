// Package console serves the compliance console at /console: server-rendered HTML pages
// (html/template, with htmx vendored from npm and embedded for quicker navigation, no
// JavaScript build step) for the people who vouch for the platform — sign-in, the
// organisation's safeguards, the audit log, access, model calls, evidence, settings and
// erasure.
//
// The console is a client of the public GraphQL API and of nothing else: each page forwards
// the signed-in person's own credential to the /graphql handler and renders its answer, so
// every authorisation rule and every audit record applies to it exactly as to any client.
// The credential lives in an httpOnly, SameSite=Strict cookie (Secure under TLS), never in
// script-readable storage; every form carries a per-session CSRF token; pages are served
// under a strict Content-Security-Policy that allows nothing from outside the server and no
// inline script.
package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed assets templates
var files embed.FS

// Base is the path the console is served under.
const Base = "/console"

// Cookie names: the session credential and the audit reader's justification.
const (
	sessionCookie       = "arkiv_console"
	justificationCookie = "arkiv_console_why"
)

// CSP is the console's Content-Security-Policy: everything from this server only, no inline
// script or style, no plugins, no frames, forms posting only to the server itself.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config configures the console.
type Config struct {
	// GraphQL is the public /graphql handler (authentication middleware included): the
	// console's only backend.
	GraphQL http.Handler
	// Exports is the API's /exports/ handler (authentication middleware included), which
	// serves the files of background exports; the console fetches them through it.
	Exports http.Handler
	// Secure marks the cookies Secure; set it when the server speaks TLS.
	Secure bool
	// Log receives failures of the console itself (never a credential or personal data).
	Log *slog.Logger
}

// Console is the console's HTTP handler; mount it for Base and Base + "/".
type Console struct {
	cfg   Config
	gql   client
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console over the GraphQL handler of cfg.
func New(cfg Config) *Console {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, gql: client{handler: cfg.GraphQL, path: "/graphql"}, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"when": func(t string) string {
			if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return p.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			return t
		},
		"lower": strings.ToLower,
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
	}
	for _, name := range []string{"signin", "overview", "audit", "justify", "access", "models", "evidence", "settings", "erasure", "error", "job"} {
		c.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	m := http.NewServeMux()
	m.Handle("GET "+Base+"/assets/", http.StripPrefix(Base+"/assets/", http.FileServerFS(assets)))
	m.HandleFunc("GET "+Base, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Base+"/", http.StatusSeeOther) })
	m.HandleFunc("GET "+Base+"/sign-in", c.signInPage)
	m.HandleFunc("POST "+Base+"/sign-in", c.signIn)
	m.HandleFunc("POST "+Base+"/sign-out", c.session(c.signOut))
	m.HandleFunc("GET "+Base+"/{$}", c.session(c.overview))
	m.HandleFunc("GET "+Base+"/audit", c.session(c.audit))
	m.HandleFunc("POST "+Base+"/justify", c.session(c.justify))
	m.HandleFunc("GET "+Base+"/access", c.session(c.access))
	m.HandleFunc("GET "+Base+"/model-calls", c.session(c.modelCalls))
	m.HandleFunc("POST "+Base+"/audit/exports", c.session(c.auditExport))
	m.HandleFunc("GET "+Base+"/audit/exports/{id}", c.session(c.auditJob))
	m.HandleFunc("GET "+Base+"/audit/exports/{id}/download", c.session(c.auditDownload))
	m.HandleFunc("GET "+Base+"/evidence", c.session(c.evidence))
	m.HandleFunc("POST "+Base+"/evidence/exports", c.session(c.evidenceExport))
	m.HandleFunc("GET "+Base+"/evidence/exports/{id}", c.session(c.evidenceJob))
	m.HandleFunc("GET "+Base+"/evidence/exports/{id}/download", c.session(c.evidenceDownload))
	m.HandleFunc("GET "+Base+"/settings", c.session(c.settings))
	m.HandleFunc("POST "+Base+"/settings", c.session(c.settingsSave))
	m.HandleFunc("GET "+Base+"/erasure", c.session(c.erasure))
	m.HandleFunc("POST "+Base+"/erasure", c.session(c.erasureAction))
	c.mux = m
	return c
}

// ServeHTTP serves the console under its CSP; a POST from another origin is refused.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Same-origin referrers only: the console's URLs never leave the server, and form posts
	// carry a real Origin rather than "null".
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method == http.MethodPost && !sameOrigin(r) {
		http.Error(w, "cross-origin form posts are refused", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// sameOrigin reports whether a request comes from a page of this server, by the Fetch
// metadata and Origin headers browsers send with every POST.
//
// Sec-Fetch-Site decides when the browser sends it; otherwise the Origin must name this host
// ("null", which a no-referrer policy makes browsers send, is refused then).
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// sess is a signed-in request: the credential and its CSRF token.
type sess struct {
	token string
	csrf  string
}

// csrfToken derives the session's CSRF token from its credential: HMAC-SHA-256 keyed with
// the credential, which no other site can read (httpOnly cookie), so it needs no server
// state and holds across replicas and restarts.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("arkiv console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session wraps a handler that needs a signed-in person: without the cookie it sends them to
// the sign-in page; a POST must carry the session's CSRF token.
func (c *Console) session(next func(http.ResponseWriter, *http.Request, sess)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			c.redirect(w, r, Base+"/sign-in")
			return
		}
		s := sess{token: ck.Value, csrf: csrfToken(ck.Value)}
		if r.Method == http.MethodPost {
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) {
				http.Error(w, "the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, s)
	}
}

// setCookie sets (or, with value "", clears) one of the console's cookies.
func (c *Console) setCookie(w http.ResponseWriter, name, value string) {
	ck := &http.Cookie{Name: name, Value: value, Path: Base, HttpOnly: true, Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode}
	if value == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// redirect sends the browser to target: a full-page redirect for htmx requests too.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// local reports whether target is a path of the console (no open redirect).
func local(target string) bool {
	return strings.HasPrefix(target, Base+"/") && !strings.HasPrefix(target, "//") && !strings.Contains(target, "\\")
}
