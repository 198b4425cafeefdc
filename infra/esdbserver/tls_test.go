package esdbserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "arkiv-esdb-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type tlsTarget struct {
	srv  *Server
	pool *x509.CertPool
}

func (tt *tlsTarget) client(t *testing.T, user, pass string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString("esdb://" + tt.srv.Addr() + "?tls=true")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = tt.pool
	cfg.Username, cfg.Password = user, pass
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startTLS(t *testing.T) *tlsTarget {
	t.Helper()
	cert, pool := selfSigned(t)
	srv := startServer(t, Config{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}},
		Users: map[string]string{"admin": "changeit", "alice": "alice-pw", "bob": "bob-pw"},
	})
	if !strings.Contains(srv.ConnectionString(), "tls=true") {
		t.Fatalf("connection string %q", srv.ConnectionString())
	}
	return &tlsTarget{srv: srv, pool: pool}
}

func TestTLSTransport(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("starts its own TLS server")
	}
	tt := startTLS(t)
	conn, err := tls.Dial("tcp", tt.srv.Addr(), &tls.Config{RootCAs: tt.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q", p)
	}
	conn.Close()
	if c, err := tls.Dial("tcp", tt.srv.Addr(), &tls.Config{RootCAs: tt.pool, MaxVersion: tls.VersionTLS11, NextProtos: []string{"h2"}}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}

func TestAuthAndACL(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("needs the embedded server's users")
	}
	tt := startTLS(t)
	ctx := ctxFor(t)
	admin := tt.client(t, "admin", "changeit")
	alice := tt.client(t, "alice", "alice-pw")
	bob := tt.client(t, "bob", "bob-pw")

	// Bad credentials are unauthenticated; anonymous callers may not touch streams.
	wrong := tt.client(t, "alice", "nope")
	if _, err := wrong.AppendToStream(ctx, "x", esdb.AppendToStreamOptions{}, event("e", "{}")); errCode(err) != esdb.ErrorCodeUnauthenticated {
		t.Fatalf("bad password: %v", err)
	}
	anon := tt.client(t, "", "")
	if _, err := anon.AppendToStream(ctx, "x", esdb.AppendToStreamOptions{}, event("e", "{}")); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("anonymous append: %v", err)
	}

	// Without an $acl, user streams are open to every authenticated user.
	open := streamName(t, "open")
	if _, err := alice.AppendToStream(ctx, open, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatal(err)
	}
	if got, err := readStream(t, bob, open, esdb.ReadStreamOptions{}, 10); err != nil || len(got) != 1 {
		t.Fatalf("bob reads an open stream: %d %v", len(got), err)
	}

	// alice locks her stream to herself.
	private := streamName(t, "private")
	if _, err := alice.AppendToStream(ctx, private, esdb.AppendToStreamOptions{}, event("secret.v1", "{}")); err != nil {
		t.Fatal(err)
	}
	var acl esdb.Acl
	acl.AddReadRoles("alice")
	acl.AddWriteRoles("alice")
	acl.AddDeleteRoles("alice")
	acl.AddMetaWriteRoles("alice")
	var meta esdb.StreamMetadata
	meta.SetAcl(acl)
	if _, err := alice.SetStreamMetadata(ctx, private, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := readStream(t, bob, private, esdb.ReadStreamOptions{}, 10); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob reads alice's stream: %v", err)
	}
	if _, err := bob.AppendToStream(ctx, private, esdb.AppendToStreamOptions{}, event("e", "{}")); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob writes alice's stream: %v", err)
	}
	if _, err := bob.DeleteStream(ctx, private, esdb.DeleteStreamOptions{}); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob deletes alice's stream: %v", err)
	}
	if _, err := bob.SetStreamMetadata(ctx, private, esdb.AppendToStreamOptions{}, esdb.StreamMetadata{}); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob rewrites alice's ACL: %v", err)
	}
	if _, err := bob.SubscribeToStream(ctx, private, esdb.SubscribeToStreamOptions{}); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob subscribes to alice's stream: %v", err)
	}
	if got, err := readStream(t, alice, private, esdb.ReadStreamOptions{}, 10); err != nil || len(got) != 1 {
		t.Fatalf("alice reads her stream: %d %v", len(got), err)
	}
	if got, err := readStream(t, admin, private, esdb.ReadStreamOptions{}, 10); err != nil || len(got) != 1 {
		t.Fatalf("admin reads alice's stream: %d %v", len(got), err)
	}
	// Per-call credentials override the client's.
	if got, err := readStream(t, bob, private, esdb.ReadStreamOptions{Authenticated: &esdb.Credentials{Login: "alice", Password: "alice-pw"}}, 10); err != nil || len(got) != 1 {
		t.Fatalf("bob's client with alice's credentials: %d %v", len(got), err)
	}

	// System streams are for admins.
	if _, err := bob.AppendToStream(ctx, "$ops-"+open, esdb.AppendToStreamOptions{}, event("e", "{}")); errCode(err) != esdb.ErrorCodeAccessDenied {
		t.Fatalf("bob writes a system stream: %v", err)
	}
	if _, err := admin.AppendToStream(ctx, "$ops-"+open, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatalf("admin writes a system stream: %v", err)
	}

	// $all: bob sees user events he may read, never system events or alice's stream;
	// admin sees everything.
	seen := func(c *esdb.Client) (openN, privateN, systemN int) {
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		recvUntil(t, sub, func(e *esdb.SubscriptionEvent) bool {
			if e.EventAppeared != nil {
				re := e.EventAppeared.OriginalEvent()
				switch {
				case strings.HasPrefix(re.StreamID, "$") || strings.HasPrefix(re.EventType, "$"):
					systemN++
				case re.StreamID == open:
					openN++
				case re.StreamID == private:
					privateN++
				}
			}
			return e.CaughtUp != nil
		})
		return
	}
	if o, p, s := seen(bob); o != 1 || p != 0 || s != 0 {
		t.Fatalf("bob's $all: open %d private %d system %d", o, p, s)
	}
	if o, p, s := seen(admin); o != 1 || p != 1 || s < 2 {
		t.Fatalf("admin's $all: open %d private %d system %d", o, p, s)
	}
	all := readAllEvents(t, bob, esdb.ReadAllOptions{})
	for _, e := range all {
		if e.OriginalEvent().StreamID == private || strings.HasPrefix(e.OriginalEvent().StreamID, "$") {
			t.Fatalf("bob's $all read shows %s", e.OriginalEvent().StreamID)
		}
	}
}

// TestIdleLiveSubscriptionSurvivesKeepalive keeps a live subscription idle for 32 s: the
// client pings every 10 s (grpc-go never pings more often), and with gRPC's default
// enforcement (5 min) the third ping would end the connection with too_many_pings. Idle
// time costs nothing, and the test runs in parallel with the rest of the suite; -short
// skips it.
func TestIdleLiveSubscriptionSurvivesKeepalive(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("idles for 32 s")
	}
	tg := startTarget(t)
	c := tg.client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := streamName(t, "idle")
	sub, err := c.SubscribeToStream(ctx, s, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan *esdb.SubscriptionEvent, 1)
	go func() {
		for {
			e := sub.Recv()
			if e.CaughtUp != nil {
				continue
			}
			got <- e
			return
		}
	}()
	select {
	case e := <-got:
		t.Fatalf("subscription ended while idle: %+v", e.SubscriptionDropped)
	case <-time.After(32 * time.Second):
	}
	if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, event("e", "{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.EventAppeared == nil {
			t.Fatalf("after idling: %+v", e.SubscriptionDropped)
		}
	case <-ctx.Done():
		t.Fatal("event not delivered after idling")
	}
}

func TestUnsupportedServiceChecksCredentialsFirst(t *testing.T) {
	t.Parallel()
	if realServerURL() != "" {
		t.Skip("needs the embedded server's users")
	}
	tt := startTLS(t)
	ctx := ctxFor(t)
	list := func(user, pass string) error {
		_, err := esdb.NewProjectionClientFromExistingClient(tt.client(t, user, pass)).ListAll(ctx, esdb.GenericProjectionOptions{})
		return err
	}
	if err := list("admin", "wrong"); errCode(err) != esdb.ErrorCodeUnauthenticated {
		t.Fatalf("projections with a wrong password: %v (code %d), want Unauthenticated", err, errCode(err))
	}
	if err := list("admin", "changeit"); errCode(err) != esdb.ErrorCodeUnsupportedFeature {
		t.Fatalf("projections with good credentials: %v (code %d), want Unimplemented", err, errCode(err))
	}
	// Persistent subscriptions are served; a missing group is ResourceNotFound.
	err := tt.client(t, "admin", "changeit").DeletePersistentSubscription(ctx, "nope", "nope", esdb.DeletePersistentSubscriptionOptions{})
	if errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("delete of a missing group: %v (code %d), want ResourceNotFound", err, errCode(err))
	}
	if err := tt.client(t, "admin", "wrong").DeletePersistentSubscription(ctx, "nope", "nope", esdb.DeletePersistentSubscriptionOptions{}); errCode(err) != esdb.ErrorCodeUnauthenticated {
		t.Fatalf("delete with a wrong password: %v, want Unauthenticated", err)
	}
}
