package esdbserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// usersStream lists the server's users, as EventStoreDB's $users stream does: one $User
// event per login name. Each user also has a $user-<name> stream with its details (never a
// password or hash: passwords stay in Config.Users).
const usersStream = "$users"

// defaultUsers are the users a real EventStoreDB creates at first start.
var defaultUsers = map[string][]string{"admin": {roleAdmins}, "ops": {"$ops"}}

// userNamespace derives the ids of the user events, so writing them twice is idempotent.
var userNamespace = uuid.MustParse("5c7a1d0e-4b1f-4a57-9f3e-2b8c0d5e6a71")

// ensureUsers writes $users and the $user-<name> streams at first start: admin, ops and
// every configured user.
func (s *Server) ensureUsers(ctx context.Context) error {
	names := map[string]bool{}
	for n := range defaultUsers {
		names[n] = true
	}
	for n := range s.cfg.Users {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	list := make([]proposed, 0, len(sorted))
	for _, n := range sorted {
		list = append(list, proposed{id: uuid.NewSHA1(userNamespace, []byte("list:"+n)), typ: "$User",
			ctype: "application/octet-stream", data: []byte(n), meta: []byte{}})
	}
	res := s.w.submit(ctx, &writeReq{kind: kindAppend, stream: usersStream, expect: expectation{kind: expectNoStream}, events: list})
	var wv *wrongVersionError
	if errors.As(res.err, &wv) {
		return nil // not the first start
	}
	if res.err != nil {
		return fmt.Errorf("write %s: %w", usersStream, res.err)
	}
	for _, n := range sorted {
		groups := defaultUsers[n]
		if groups == nil {
			groups = []string{}
		}
		data, _ := json.Marshal(map[string]any{"loginName": n, "fullName": n, "groups": groups, "disabled": false})
		ev := proposed{id: uuid.NewSHA1(userNamespace, []byte("user:"+n)), typ: "$user", ctype: "application/json", data: data, meta: []byte{}}
		res := s.w.submit(ctx, &writeReq{kind: kindAppend, stream: "$user-" + n, expect: expectation{kind: expectAny}, events: []proposed{ev}})
		if res.err != nil {
			return fmt.Errorf("write $user-%s: %w", n, res.err)
		}
	}
	return nil
}

// unknownService answers calls to services the server does not implement (Projections,
// Operations, Users, …). It runs behind the stream interceptor, so a caller with wrong
// credentials learns Unauthenticated first.
func unknownService(_ any, ss grpc.ServerStream) error {
	m, _ := grpc.MethodFromServerStream(ss)
	return status.Errorf(codes.Unimplemented, "%s is not supported by the embedded event store", m)
}
