// Package graphiql serves the GraphQL playground (GraphiQL) from assets vendored from npm
// at pinned versions and embedded in the binary (tools/vendor-graphiql.sh), under a
// Content-Security-Policy that allows nothing from outside the server: the playground works
// on an isolated install, and opening it tells no third party.
package graphiql

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Handler serves the playground page at "/" and its assets under base ("/playground"),
// talking to the GraphQL endpoint (e.g. "/graphql"). Mount it for "GET /{$}" and
// "GET " + base + "/".
func Handler(base, endpoint string) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	page := template.Must(template.ParseFS(sub, "index.html"))
	var index bytes.Buffer
	if err := page.Execute(&index, struct{ Base, Endpoint string }{base, endpoint}); err != nil {
		panic(err)
	}
	files := http.StripPrefix(base, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", CSP(r.Host))
		if r.URL.Path == "/" || r.URL.Path == "" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index.Bytes())
			return
		}
		if !strings.HasPrefix(r.URL.Path, base+"/") || strings.HasSuffix(r.URL.Path, "/index.html") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// CSP is the playground's Content-Security-Policy for a page served from host: scripts,
// styles, fonts and connections only from this server (GraphiQL sets inline styles and
// embeds its fonts as data: URLs), no frames, no plugins, no form targets.
func CSP(host string) string {
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"font-src 'self' data:",
		"img-src 'self' data:",
		"connect-src 'self' ws://" + host + " wss://" + host,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
