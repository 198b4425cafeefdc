package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// The graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md): its subprotocol name,
// message types and close codes.
const (
	transportWS = "graphql-transport-ws"

	msgInit      = "connection_init"
	msgAck       = "connection_ack"
	msgPing      = "ping"
	msgPong      = "pong"
	msgSubscribe = "subscribe"
	msgNext      = "next"
	msgError     = "error"
	msgComplete  = "complete"

	closeBadRequest      = 4400
	closeUnauthorized    = 4401
	closeForbidden       = 4403
	closeInitTimeout     = 4408
	closeSubscriberTaken = 4409
	closeTooManyInits    = 4429
)

// wsOptions configures the WebSocket transports.
type wsOptions struct {
	authenticate func(ctx context.Context, token string) (auth.Principal, error)
	roles        Roles
	origins      *originPolicy
	initTimeout  time.Duration
	recheck      time.Duration
	keepAlive    time.Duration
	maxOps       int
	log          *slog.Logger
}

// wsTransport serves graphql-transport-ws. Unlike gqlgen's transport it closes with the
// protocol's codes, and it holds authorisation for the life of the socket: the principal is
// checked again, through the same authentication as an HTTP request, before every operation
// and every recheck interval; a principal refused, deactivated or whose organisation role
// changed ends the socket with 4403.
type wsTransport struct{ o wsOptions }

var _ graphql.Transport = wsTransport{}

// Supports implements graphql.Transport: WebSocket upgrades offering graphql-transport-ws.
func (wsTransport) Supports(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, p := range websocket.Subprotocols(r) {
		if p == transportWS {
			return true
		}
	}
	return false
}

// Do implements graphql.Transport.
func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	up := websocket.Upgrader{Subprotocols: []string{transportWS}, CheckOrigin: t.o.origins.allowed}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a refused Origin)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c := &wsConn{o: t.o, conn: conn, exec: exec, ctx: ctx, ops: map[string]context.CancelFunc{}}
	if p, ok := auth.FromContext(r.Context()); ok {
		// Authenticated by the upgrade request's own Authorization header.
		c.principal, c.authed = p, true
		c.token = requestInfoFrom(r.Context()).token
	}
	c.serve()
}

// wsConn is one graphql-transport-ws connection.
type wsConn struct {
	o    wsOptions
	conn *websocket.Conn
	exec graphql.GraphExecutor
	ctx  context.Context

	writeMu sync.Mutex

	mu        sync.Mutex
	closed    bool
	acked     bool
	authed    bool // a principal authenticated the socket
	token     string
	principal auth.Principal
	role      domain.OrgRole
	ops       map[string]context.CancelFunc
	// closeFn, when set, ends the connection instead of closing conn (gqlgen's legacy
	// transport owns its connection and closes it when the context ends).
	closeFn context.CancelFunc
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (c *wsConn) serve() {
	msgs := make(chan wsMessage)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, data, err := c.conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			var m wsMessage
			if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
				c.close(closeBadRequest, "invalid message")
				readErr <- errors.New("invalid message")
				return
			}
			select {
			case msgs <- m:
			case <-c.ctx.Done():
				return
			}
		}
	}()
	defer c.close(websocket.CloseNormalClosure, "")

	initTimer := time.NewTimer(c.o.initTimeout)
	defer initTimer.Stop()
	recheck := time.NewTicker(c.o.recheck)
	defer recheck.Stop()
	keepAlive := time.NewTicker(c.o.keepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-readErr:
			return
		case <-initTimer.C:
			if !c.isAcked() {
				c.close(closeInitTimeout, "connection initialisation timeout")
				return
			}
		case <-recheck.C:
			if c.isAcked() && !c.recheckIdle() {
				return
			}
		case <-keepAlive.C:
			if c.isAcked() {
				c.write(wsMessage{Type: msgPing})
			}
		case m := <-msgs:
			if !c.handle(m) {
				return
			}
		}
	}
}

func (c *wsConn) isAcked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

// handle acts on one client message; false ends the connection (it has been closed).
func (c *wsConn) handle(m wsMessage) bool {
	switch m.Type {
	case msgInit:
		return c.init(m.Payload)
	case msgPing:
		c.write(wsMessage{Type: msgPong, Payload: m.Payload})
		return true
	case msgPong:
		return true
	case msgSubscribe:
		if !c.isAcked() {
			c.close(closeUnauthorized, "Unauthorized")
			return false
		}
		return c.subscribe(m)
	case msgComplete:
		if m.ID == "" {
			c.close(closeBadRequest, "complete without an id")
			return false
		}
		c.mu.Lock()
		cancel := c.ops[m.ID]
		delete(c.ops, m.ID)
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return true
	default:
		c.close(closeBadRequest, "unsupported message type")
		return false
	}
}

// init handles connection_init: its payload is absent or an object whose Authorization (or
// authorization) member, when present, is "Bearer <token>".
func (c *wsConn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	again := c.acked
	c.mu.Unlock()
	if again {
		c.close(closeTooManyInits, "Too many initialisation requests")
		return false
	}
	params := map[string]any{}
	if p := bytes.TrimSpace(payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if p[0] != '{' || json.Unmarshal(p, &params) != nil {
			c.close(closeBadRequest, "the connection_init payload must be an object")
			return false
		}
	}
	var header string
	for _, k := range []string{"Authorization", "authorization"} {
		if v, ok := params[k]; ok {
			s, isString := v.(string)
			if !isString {
				c.close(closeBadRequest, "Authorization must be a string")
				return false
			}
			header = s
		}
	}
	if header != "" {
		scheme, token, _ := strings.Cut(header, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" || c.o.authenticate == nil {
			c.close(closeForbidden, "Forbidden")
			return false
		}
		p, err := c.o.authenticate(c.ctx, token)
		if err != nil {
			c.closeRefused(err)
			return false
		}
		c.mu.Lock()
		c.principal, c.authed, c.token = p, true, token
		c.mu.Unlock()
	}
	if !c.checkRole(true) {
		return false
	}
	c.mu.Lock()
	c.acked = true
	c.mu.Unlock()
	c.write(wsMessage{Type: msgAck})
	return true
}

// closeRefused closes the socket after authentication failed: 4403 for a refused
// credential, 1011 when it could not be checked.
func (c *wsConn) closeRefused(err error) {
	if domain.KindOf(err) == domain.KindUnavailable {
		c.close(websocket.CloseInternalServerErr, "authentication is unavailable")
		return
	}
	c.close(closeForbidden, "Forbidden")
}

// recheck authenticates the socket's credential again and checks the user's role; false
// when the socket has been closed. An operation started over the socket counts as the
// session's use; the periodic re-check (idle) does not, so a socket with nothing new
// going on ends when the session's idle timeout passes.
func (c *wsConn) recheck() bool { return c.recheckWith(c.ctx) }

// recheckIdle is the periodic re-check.
func (c *wsConn) recheckIdle() bool { return c.recheckWith(auth.WithoutTouch(c.ctx)) }

func (c *wsConn) recheckWith(ctx context.Context) bool {
	c.mu.Lock()
	authed, token := c.authed, c.token
	c.mu.Unlock()
	if !authed {
		return true
	}
	if token != "" && c.o.authenticate != nil {
		p, err := c.o.authenticate(ctx, token)
		if err == nil && p != c.principalNow() {
			err = domain.E(domain.KindUnauthenticated, "graphql.websocket", "the credential changed hands")
		}
		if err != nil {
			if c.ctx.Err() == nil {
				c.closeRefused(err)
			}
			return false
		}
	}
	return c.checkRole(false)
}

func (c *wsConn) principalNow() auth.Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal
}

// checkRole reads the user's organisation role: first records it, later closes the socket
// (4403) when the user is no longer active or the role has changed, so every subscription
// is authorised again under the new role.
func (c *wsConn) checkRole(first bool) bool {
	c.mu.Lock()
	p, authed := c.principal, c.authed
	c.mu.Unlock()
	if !authed || p.UserID == "" || c.o.roles == nil {
		return true
	}
	role, active, err := c.o.roles.OrgRole(c.ctx, p.OrganizationID, p.UserID)
	if err != nil {
		if c.ctx.Err() == nil {
			c.close(websocket.CloseInternalServerErr, "authorisation is unavailable")
		}
		return false
	}
	c.mu.Lock()
	changed := !first && role != c.role
	c.role = role
	c.mu.Unlock()
	if !active || changed {
		c.close(closeForbidden, "Forbidden")
		return false
	}
	return true
}

// subscribe starts an operation (of any type: the protocol runs queries and mutations too).
func (c *wsConn) subscribe(m wsMessage) bool {
	var params graphql.RawParams
	if m.ID == "" || len(m.Payload) == 0 || m.Payload[0] != '{' || json.Unmarshal(m.Payload, &params) != nil || params.Query == "" {
		c.close(closeBadRequest, "a subscribe message needs an id and a payload with a query")
		return false
	}
	if !c.recheck() {
		return false
	}
	c.mu.Lock()
	if _, taken := c.ops[m.ID]; taken {
		c.mu.Unlock()
		c.close(closeSubscriberTaken, "Subscriber for "+m.ID+" already exists")
		return false
	}
	if len(c.ops) >= c.o.maxOps {
		c.mu.Unlock()
		e := &gqlerror.Error{Message: "this connection already runs " + strconv.Itoa(c.o.maxOps) +
			" operations, the limit: complete one first or open another connection",
			Extensions: map[string]any{"code": domain.KindInvalid.String()}}
		c.sendErrors(m.ID, gqlerror.List{e})
		return true
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.ops[m.ID] = cancel
	p, authed := c.principal, c.authed
	c.mu.Unlock()

	if authed {
		ctx = auth.WithPrincipal(ctx, p)
	}
	ctx = withRequestCache(graphql.StartOperationTrace(ctx))
	now := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: now, End: now}
	oc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		c.finish(m.ID, cancel)
		c.sendErrors(m.ID, resp.Errors)
		return true
	}
	ctx = graphql.WithOperationContext(ctx, oc)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				err := oc.Recover(ctx, v)
				var ge *gqlerror.Error
				if !errors.As(err, &ge) {
					ge = &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": domain.KindInternal.String()}}
				}
				if c.finish(m.ID, cancel) {
					c.sendErrors(m.ID, gqlerror.List{ge})
				}
				return
			}
			if c.finish(m.ID, cancel) {
				c.write(wsMessage{ID: m.ID, Type: msgComplete})
			}
		}()
		responses, rctx := c.exec.DispatchOperation(ctx, oc)
		for {
			resp := responses(rctx)
			if resp == nil || ctx.Err() != nil {
				return
			}
			b, err := json.Marshal(resp)
			if err != nil {
				c.o.log.Error("graphql websocket: encoding a response failed", "err_type", fmtType(err))
				return
			}
			c.write(wsMessage{ID: m.ID, Type: msgNext, Payload: b})
		}
	}()
	return true
}

// finish forgets an operation; it reports whether the operation was still active (the
// client had not completed it and the connection is open), that is whether the server
// should tell its end.
func (c *wsConn) finish(id string, cancel context.CancelFunc) bool {
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	_, active := c.ops[id]
	delete(c.ops, id)
	return active && !c.closed
}

func (c *wsConn) sendErrors(id string, errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal error","extensions":{"code":"INTERNAL"}}]`)
	}
	c.write(wsMessage{ID: id, Type: msgError, Payload: b})
}

func (c *wsConn) write(m wsMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = c.conn.WriteMessage(websocket.TextMessage, b)
}

// close ends every operation and the connection with a close code (once).
func (c *wsConn) close(code int, reason string) {
	if c.closeFn != nil {
		c.closeFn()
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for id, cancel := range c.ops {
		cancel()
		delete(c.ops, id)
	}
	c.mu.Unlock()
	c.writeMu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	_ = c.conn.Close()
}

// originPolicy decides which browser origins may open a WebSocket: requests without an
// Origin header (non-browser clients) and same-origin requests always, others only when
// listed (ARKIV_ALLOWED_ORIGINS); "*" allows every origin.
type originPolicy struct {
	any  bool
	list map[string]bool
}

func newOriginPolicy(list []string) *originPolicy {
	p := &originPolicy{list: map[string]bool{}}
	for _, o := range list {
		o = strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.list[o] = true
		}
	}
	return p
}

func (p *originPolicy) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return p.list[strings.ToLower(u.Scheme+"://"+u.Host)]
}

// legacyWebsocket serves the older graphql-ws subprotocol (subscriptions-transport-ws)
// through gqlgen's transport, for the clients that still speak it: the same Origin policy,
// and the same authorisation for the life of the socket: every recheck interval the
// credential and the role are checked again, and the socket ends when they fail.
func legacyWebsocket(o wsOptions) transport.Websocket {
	return transport.Websocket{
		KeepAlivePingInterval: o.keepAlive,
		InitTimeout:           o.initTimeout,
		Upgrader:              websocket.Upgrader{CheckOrigin: o.origins.allowed},
		InitFunc: func(ctx context.Context, init transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			c := &wsConn{o: o, ctx: ctx}
			if p, ok := auth.FromContext(ctx); ok {
				c.principal, c.authed, c.token = p, true, requestInfoFrom(ctx).token
			} else if h := init.Authorization(); h != "" {
				scheme, token, _ := strings.Cut(h, " ")
				token = strings.TrimSpace(token)
				if !strings.EqualFold(scheme, "Bearer") || token == "" || o.authenticate == nil {
					return ctx, nil, domain.E(domain.KindUnauthenticated, "graphql.websocket", "invalid credentials")
				}
				p, err := o.authenticate(ctx, token)
				if err != nil {
					return ctx, nil, domain.E(domain.KindUnauthenticated, "graphql.websocket", "invalid credentials")
				}
				c.principal, c.authed, c.token = p, true, token
				ctx = auth.WithPrincipal(ctx, p)
			}
			ctx, cancel := context.WithCancel(ctx)
			c.ctx = ctx
			c.closeFn = cancel
			if !c.checkRole(true) {
				return ctx, nil, domain.E(domain.KindUnauthenticated, "graphql.websocket", "user is not active")
			}
			go func() {
				t := time.NewTicker(o.recheck)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if !c.recheckIdle() {
							return
						}
					}
				}
			}()
			return ctx, nil, nil
		},
	}
}
