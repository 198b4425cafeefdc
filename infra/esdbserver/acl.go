package esdbserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Role names with a meaning of their own, as in EventStoreDB.
const (
	roleAdmins = "$admins"
	roleAll    = "$all"
)

// acl is a stream's access control list ($acl in its metadata): roles per operation.
type acl struct {
	read, write, del, metaRead, metaWrite []string
	set                                   [5]bool
}

// operation is what a caller wants to do with a stream.
type operation int

const (
	opRead operation = iota
	opWrite
	opDelete
	opMetaRead
	opMetaWrite
)

func parseACL(raw json.RawMessage) *acl {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	a := &acl{}
	roles := func(key string, dst *[]string, i int) {
		v, ok := m[key]
		if !ok {
			return
		}
		a.set[i] = true
		var one string
		if json.Unmarshal(v, &one) == nil {
			*dst = []string{one}
			return
		}
		var many []string
		if json.Unmarshal(v, &many) == nil {
			*dst = many
		}
	}
	roles("$r", &a.read, int(opRead))
	roles("$w", &a.write, int(opWrite))
	roles("$d", &a.del, int(opDelete))
	roles("$mr", &a.metaRead, int(opMetaRead))
	roles("$mw", &a.metaWrite, int(opMetaWrite))
	return a
}

func (a *acl) roles(op operation) ([]string, bool) {
	if a == nil || !a.set[op] {
		return nil, false
	}
	switch op {
	case opRead:
		return a.read, true
	case opWrite:
		return a.write, true
	case opDelete:
		return a.del, true
	case opMetaRead:
		return a.metaRead, true
	default:
		return a.metaWrite, true
	}
}

// principal is the caller of an RPC.
type principal struct {
	name      string // empty for anonymous
	admin     bool   // member of $admins, or any caller in insecure mode
	anonymous bool
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// allowed decides whether p may perform op on stream, whose metadata is meta. Admins may do
// everything. Without an $acl entry for op, user streams are open to every authenticated
// user and system ($-) streams to admins only, as EventStoreDB's default ACLs.
func (p principal) allowed(stream string, meta streamMeta, op operation) bool {
	if p.admin {
		return true
	}
	roles, ok := meta.acl.roles(op)
	if !ok {
		if strings.HasPrefix(stream, "$") {
			return false
		}
		return !p.anonymous
	}
	for _, r := range roles {
		switch {
		case r == roleAll:
			return true
		case !p.anonymous && r == p.name:
			return true
		}
	}
	return false
}

// basicAuth parses an "authorization: Basic …" header from the call's metadata.
func basicAuth(ctx context.Context) (user, pass string, present, ok bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", "", false, false
	}
	v := vals[0]
	const prefix = "basic "
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", true, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(prefix):]))
	if err != nil {
		return "", "", true, false
	}
	u, pw, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, false
	}
	return u, pw, true, true
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
