// Package esdbserver is Arkiv's embedded EventStoreDB server: the gRPC API of EventStoreDB
// (the official protos from EventStore-Client-Go), so the official client works unchanged,
// with its events stored in Postgres in a schema of their own. Appends are serialised through
// a group-commit writer that assigns one global order (commit = prepare position) and answers
// only after Postgres has committed; live subscribers are woken in-process. Persistent
// subscription groups, their checkpoints and parked messages live in the same schema; the
// schema's tables come from goose migrations embedded in the package.
package esdbserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/arkiv/arkiv/domain"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// ServerVersion is the EventStoreDB version the server announces to clients; the client
// needs three numeric parts.
const ServerVersion = "24.10.0"

// maxMessageSize bounds one gRPC message in either direction; the client may send events up
// to its own 17 MiB limit.
const maxMessageSize = 32 << 20

// Config configures the embedded server.
type Config struct {
	// PGURL is the Postgres database where the store's tables live.
	PGURL string
	// Schema is the Postgres schema of the store's tables (default "esdb"); created on start.
	Schema string
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:0" for a free port.
	Listen string
	// TLS is the server's TLS configuration; nil serves insecure h2c, where every caller is
	// anonymous with full rights (EventStoreDB's --insecure).
	TLS *tls.Config
	// Users maps Basic-auth user names to passwords (used only with TLS); "admin" is in
	// $admins.
	Users map[string]string
	// DefaultUsers writes, at first start, the $users stream and the admin and ops users (and
	// the other configured users) as a real EventStoreDB does, for tools that wait for
	// $users. Off, the store holds only what clients append (tests that count positions).
	DefaultUsers bool
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Clock tells the time of event timestamps, $maxAge and message timeouts; nil means
	// domain.SystemClock.
	Clock domain.Clock

	// liveBuffer overrides the number of commit batches a live subscriber may lag behind
	// before it falls back to reading the store (tests only).
	liveBuffer int
}

// Server is a running embedded EventStoreDB server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	clock  domain.Clock
	pool   *pgxpool.Pool
	lock   *pgx.Conn
	st     *store
	hub    *hub
	w      *writer
	psubs  *psubs
	grpc   *grpc.Server
	ln     net.Listener
	ctx    context.Context // cancelled by Close: ends subscriptions
	cancel context.CancelFunc
	served chan struct{}

	fallbacks atomic.Int64 // live subscribers that overflowed and went back to the store

	closeOnce sync.Once
	closeErr  error
}

// Start creates the store's schema, takes the schema's writer lock, listens and serves until
// Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.PGURL == "" {
		return nil, errors.New("esdbserver: Config.PGURL is empty")
	}
	if cfg.Schema == "" {
		cfg.Schema = "esdb"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:2113"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.liveBuffer == 0 {
		cfg.liveBuffer = 1024
	}
	s := &Server{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, served: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()

	pcfg, err := pgxpool.ParseConfig(cfg.PGURL)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: parse PGURL: %w", err)
	}
	if pcfg.MaxConns < 8 {
		pcfg.MaxConns = 8
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: connect to Postgres: %w", err)
	}
	s.st, err = newStore(s.pool, cfg.Schema)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: %w", err)
	}
	if err := migrate(ctx, cfg.PGURL, cfg.Schema); err != nil {
		return nil, fmt.Errorf("esdbserver: %w", err)
	}
	if err := s.takeWriterLock(ctx); err != nil {
		return nil, err
	}
	head, err := s.st.head(ctx)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: read head position: %w", err)
	}
	s.hub = newHub(head)
	s.w = newWriter(s.st, s.hub, s.log, s.clock, head)
	go s.w.run()
	if cfg.DefaultUsers {
		if err := s.ensureUsers(ctx); err != nil {
			close(s.w.stop)
			<-s.w.stopped
			return nil, fmt.Errorf("esdbserver: %w", err)
		}
	}

	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: listen on %s: %w", cfg.Listen, err)
	}
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(newCodec()),
		// Large $all reads send many small messages: a bigger write buffer means fewer
		// socket writes per page.
		grpc.WriteBufferSize(256 << 10),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
		grpc.UnaryInterceptor(s.unaryAuth),
		grpc.StreamInterceptor(s.streamAuth),
		grpc.UnknownServiceHandler(unknownService),
	}
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
		tc.NextProtos = []string{"h2"}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	s.grpc = grpc.NewServer(opts...)
	streams.RegisterStreamsServer(s.grpc, &streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &featuresService{})
	gossip.RegisterGossipServer(s.grpc, &gossipService{s: s, id: uuid.New()})
	persistent.RegisterPersistentSubscriptionsServer(s.grpc, &psubService{s: s})

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.psubs = newPsubs(s)
	if err := s.psubs.load(ctx); err != nil {
		s.cancel()
		s.psubs.stopAll()
		close(s.w.stop)
		<-s.w.stopped
		return nil, fmt.Errorf("esdbserver: %w", err)
	}
	go func() {
		defer close(s.served)
		if err := s.grpc.Serve(s.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("event store: serve", "err", err)
		}
	}()
	ok = true
	s.log.Info("event store listening", "addr", s.Addr(), "tls", cfg.TLS != nil, "schema", cfg.Schema)
	return s, nil
}

// takeWriterLock holds a session advisory lock for the schema on a dedicated connection:
// the writer's in-memory state (next position, stream revisions) is only right when it is
// the schema's only writer. After a crash Postgres frees the lock with the dead session,
// so it waits a little for that.
func (s *Server) takeWriterLock(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("esdbserver: connect to Postgres: %w", err)
	}
	s.lock = conn
	key := "arkiv-esdb:" + s.cfg.Schema
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&got); err != nil {
			return fmt.Errorf("esdbserver: writer lock: %w", err)
		}
		if got {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("esdbserver: schema %q is in use by another event store server", s.cfg.Schema)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Addr returns the host:port the server is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ConnectionString returns an esdb:// connection string for the official client.
func (s *Server) ConnectionString() string {
	if s.cfg.TLS == nil {
		return "esdb://" + s.Addr() + "?tls=false"
	}
	return "esdb://" + s.Addr() + "?tls=true&tlsVerifyCert=false"
}

// Close stops accepting calls, ends live subscriptions, lets in-flight calls and queued
// writes finish (until ctx ends, then cuts them off) and closes the Postgres pool.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.hub.close()
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
			<-done
			s.closeErr = ctx.Err()
		}
		<-s.served
		s.psubs.stopAll()
		close(s.w.stop)
		<-s.w.stopped
		s.release()
		s.log.Info("event store stopped")
	})
	return s.closeErr
}

func (s *Server) release() {
	if s.ln != nil && s.grpc == nil {
		_ = s.ln.Close()
	}
	if s.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.lock.Close(ctx)
		cancel()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// authenticate resolves the caller. Insecure mode: everyone is anonymous with full rights.
// TLS mode: Basic credentials must match Config.Users; no credentials means anonymous.
func (s *Server) authenticate(ctx context.Context) (context.Context, error) {
	if s.cfg.TLS == nil {
		return withPrincipal(ctx, principal{admin: true, anonymous: true}), nil
	}
	user, pass, present, ok := basicAuth(ctx)
	if !present {
		return withPrincipal(ctx, principal{anonymous: true}), nil
	}
	want, known := s.cfg.Users[user]
	if !ok || !known || !constantTimeEqual(want, pass) {
		return nil, status.Error(codes.Unauthenticated, "bad credentials")
	}
	return withPrincipal(ctx, principal{name: user, admin: user == "admin"}), nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName ||
		info.FullMethod == gossip.Gossip_Read_FullMethodName {
		return handler(ctx, req)
	}
	ctx, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

type authStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authStream) Context() context.Context { return a.ctx }

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context())
	if err != nil {
		if info.FullMethod == streams.Streams_Append_FullMethodName {
			// The client reports EOF instead of the status when an append is refused before
			// its request stream is read.
			for ss.RecvMsg(new(streams.AppendReq)) == nil {
			}
		}
		return err
	}
	return handler(srv, &authStream{ServerStream: ss, ctx: ctx})
}

// featuresService answers ServerFeatures.GetSupportedMethods.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	m := func(service, method string) *serverfeatures.SupportedMethod {
		return &serverfeatures.SupportedMethod{ServiceName: service, MethodName: method}
	}
	const st = "event_store.client.streams.streams"
	const ps = "event_store.client.persistent_subscriptions.persistentsubscriptions"
	create := m(ps, "create")
	create.Features = []string{"stream", "all"}
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: ServerVersion,
		Methods: []*serverfeatures.SupportedMethod{
			m(st, "read"), m(st, "append"), m(st, "delete"), m(st, "tombstone"),
			create, m(ps, "update"), m(ps, "delete"), m(ps, "read"), m(ps, "getinfo"),
			m(ps, "replayparked"), m(ps, "list"), m(ps, "restartsubsystem"),
			m("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
			m("event_store.client.gossip.gossip", "read"),
		},
	}, nil
}

// gossipService answers Gossip.Read with a one-node cluster whose leader is this server, so
// esdb+discover:// connection strings work too.
type gossipService struct {
	gossip.UnimplementedGossipServer
	s  *Server
	id uuid.UUID
}

func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	host, portStr, _ := net.SplitHostPort(g.s.Addr())
	port, _ := strconv.Atoi(portStr)
	most, least := uuidHalves(g.id)
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits: most, LeastSignificantBits: least}}},
		TimeStamp:    g.s.clock.Now().UnixNano() / 100,
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(port)},
	}}}, nil
}
