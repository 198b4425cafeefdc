package httpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadyzReportsFailingDependency(t *testing.T) {
	var pgDown bool
	s, err := Listen(Config{Listen: "127.0.0.1:0", Checks: []Check{
		{Name: "postgres", Fn: func(context.Context) error {
			if pgDown {
				return errors.New("connection refused")
			}
			return nil
		}},
		{Name: "weaviate", Fn: func(context.Context) error { return nil }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz = %d %v", code, body)
	}
	pgDown = true
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with postgres down = %d, want 503", code)
	}
	checks := body["checks"].([]any)
	pg := checks[0].(map[string]any)
	if pg["ok"] != false || pg["error"] != "unavailable" {
		t.Fatalf("postgres check = %v (the reason must not reach an anonymous caller)", pg)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful shutdown returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func TestTLSRefusesOldVersionsAndWeakSuites(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writeSelfSigned(t, dir)
	s, err := Listen(Config{Listen: "127.0.0.1:0", TLSCert: certPath, TLSKey: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	addr := s.ln.Addr().String()
	old, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2+ handshake failed: %v", err)
	}
	c.Close()
	// TLS 1.2 with each weak suite a client may still offer is refused; each accepted suite
	// completes a handshake and is the one negotiated.
	weak := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
	for _, suite := range weak {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			c.Close()
			t.Fatalf("a TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(suite))
		}
	}
	for _, suite := range CipherSuites {
		if !strings.Contains(tls.CipherSuiteName(suite), "ECDSA") {
			continue // the test certificate is ECDSA
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err != nil {
			t.Fatalf("TLS 1.2 with %s: %v", tls.CipherSuiteName(suite), err)
		}
		if got := c.ConnectionState().CipherSuite; got != suite {
			t.Fatalf("negotiated %s, want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(suite))
		}
		c.Close()
	}
	for _, suite := range CipherSuites {
		for _, bad := range tls.InsecureCipherSuites() {
			if bad.ID == suite {
				t.Fatalf("%s is one of Go's insecure suites", bad.Name)
			}
		}
	}
	c13, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("TLS 1.3 handshake failed: %v", err)
	}
	if v := c13.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("negotiated version %x, want TLS 1.3", v)
	}
	c13.Close()
	if _, err := Listen(Config{Listen: "127.0.0.1:0", TLSCert: certPath}); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arkiv-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cp, kp := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cp, kp
}

func TestResponsesCarrySecurityHeaders(t *testing.T) {
	s, err := Listen(Config{Listen: "127.0.0.1:0", GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{}}`))
	})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	for _, path := range []string{"/graphql", "/healthz", "/readyz", "/nowhere"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
			"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
}

// TestSlowBodyIsCutOff reproduces a body sent one byte at a time: the server stops reading
// once the body timeout passes instead of holding the connection forever.
func TestSlowBodyIsCutOff(t *testing.T) {
	read := make(chan error, 1)
	s, err := Listen(Config{Listen: "127.0.0.1:0", BodyTimeout: 300 * time.Millisecond,
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			read <- err
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("the trickled body was read to the end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a body trickled in byte by byte was never cut off")
	}
}

// TestSlowAnswerAfterBodyIsNotCutOff: once the body is read, the handler may take longer
// than the body timeout without its request being cancelled.
func TestSlowAnswerAfterBodyIsNotCutOff(t *testing.T) {
	s, err := Listen(Config{Listen: "127.0.0.1:0", BodyTimeout: 200 * time.Millisecond,
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
				http.Error(w, "cancelled", http.StatusGatewayTimeout)
			case <-time.After(600 * time.Millisecond):
				w.Write([]byte("done"))
			}
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	resp, err := http.Post(s.URL()+"/graphql", "application/json", strings.NewReader(`{"query":"{x}"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "done" {
		t.Fatalf("%d %q: a slow answer was cut off by the body timeout", resp.StatusCode, body)
	}
}

// TestConsoleIsMountedAtConsole: the Console handler gets /console and everything under it,
// behind the same hardening headers, and nothing else.
func TestConsoleIsMountedAtConsole(t *testing.T) {
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Console", "yes")
		_, _ = io.WriteString(w, r.URL.Path)
	})
	s, err := Listen(Config{Listen: "127.0.0.1:0", Console: console})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx) }()
	for path, want := range map[string]bool{"/console": true, "/console/": true, "/console/audit": true, "/consolex": false, "/": false} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Console") == "yes"; got != want {
			t.Errorf("%s reached the console: %v, want %v", path, got, want)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s lacks the hardening headers", path)
		}
	}
}

// TestSCIMIsMountedAtScimV2: the SCIM handler gets everything under /scim/v2/, and nothing
// else.
func TestSCIMIsMountedAtScimV2(t *testing.T) {
	scim := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-SCIM", "yes") })
	s, err := Listen(Config{Listen: "127.0.0.1:0", SCIM: scim})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx) }()
	for path, want := range map[string]bool{"/scim/v2/Users": true, "/scim/v2/Groups/x": true, "/scim/v2/": true, "/scim/v1/Users": false, "/graphql": false} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-SCIM") == "yes"; got != want {
			t.Errorf("%s reached SCIM: %v, want %v", path, got, want)
		}
	}
}
