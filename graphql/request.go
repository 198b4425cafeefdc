package graphql

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// requestInfo is what resolvers need of the HTTP request: the remote address (login rate
// limits) and the bearer token (logout).
type requestInfo struct {
	remoteIP string
	token    string
}

type requestInfoKey struct{}

// withRequestInfo records r's remote address and bearer token in ctx.
func withRequestInfo(ctx context.Context, r *http.Request, remoteIP string) context.Context {
	info := requestInfo{remoteIP: remoteIP}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		info.token = strings.TrimSpace(h[7:])
	}
	if info.remoteIP == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			info.remoteIP = host
		}
	}
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfoFrom(ctx context.Context) requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return info
}
