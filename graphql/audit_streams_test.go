package graphql_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/projections/auditstream"
)

const (
	mConfigureStream = `mutation($in: ConfigureAuditStreamInput!) { configureAuditStream(input: $in) { id secret position } }`
	qStreams         = `query($at: String) { auditStreams(consistentAt: $at) { id kind format endpoint includeDetail
		health { healthy lag delivered poisoned position lastError lastErrorAt lastDeliveredAt } } }`
)

// configureStream adds a destination as the Admin and returns its id and secret.
func (s *stack) configureStream(t *testing.T, key string, in map[string]any) (id, secret string) {
	t.Helper()
	res := s.ok(t, key, mConfigureStream, map[string]any{"in": in})["configureAuditStream"].(map[string]any)
	s.wait(t, res["position"].(string))
	if sec, ok := res["secret"].(string); ok {
		secret = sec
	}
	return res["id"].(string), secret
}

// runForwarder runs a forwarder of s with short intervals until the returned stop is called.
func (s *stack) runForwarder(t *testing.T) (stop func()) {
	t.Helper()
	fw, err := s.p.NewAuditForwarder(func(c *auditstream.Config) {
		c.Reconcile = 100 * time.Millisecond
		c.BackoffInitial = 50 * time.Millisecond
		c.BackoffMax = 500 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("forwarder: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// logouts records n audit entries (access.logged_out.v1) of the organisation's Admin.
func (s *stack) logouts(t *testing.T, o org, n int) {
	t.Helper()
	if err := s.recordLogouts(o, n); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) recordLogouts(o org, n int) error {
	for i := 0; i < n; i++ {
		if _, err := s.p.App.RecordLogout.Handle(context.Background(), commands.RecordLogout{Meta: commands.Meta{
			CommandID: uuid.NewString(), ActorID: o.adminID}}); err != nil {
			return err
		}
	}
	return nil
}

// expectedIDs returns the ids of the organisation's audit entries after the destination's
// creation, once the audit projection has them all (at least want).
func (s *stack) expectedIDs(t *testing.T, o org, streamID string, want int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := s.p.Pool.Query(context.Background(), `SELECT event_id FROM audit_log WHERE organization_id = $1
			AND position > (SELECT created_position FROM audit_streams WHERE stream_id = $2)`, o.id, streamID)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		rows.Close()
		if len(ids) >= want || time.Now().After(deadline) {
			if len(ids) < want {
				t.Fatalf("%d audit entries projected, want %d", len(ids), want)
			}
			return ids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookReceiver is a webhook receiver that verifies Standard Webhooks signatures and
// deduplicates on webhook-id.
type hookReceiver struct {
	t   *testing.T
	key []byte

	mu        sync.Mutex
	bodies    map[string][]byte // by webhook-id
	received  int
	badSig    int
	hold      bool
	held      int
	release   chan struct{}
	status    int // answer instead of 204 when not 0
	seenFirst chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	return &hookReceiver{t: t, bodies: map[string][]byte{}, release: make(chan struct{})}
}

// setSecret gives the receiver the destination's signing secret.
func (h *hookReceiver) setSecret(secret string) {
	h.t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) != 32 {
		h.t.Fatalf("secret %q is not whsec_ and 32 bytes of base64", secret)
	}
	h.mu.Lock()
	h.key = key
	h.mu.Unlock()
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	h.mu.Lock()
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute ||
		subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		h.badSig++
		h.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.received++
	h.bodies[id] = body
	status, hold := h.status, h.hold
	if hold {
		h.held++
	}
	h.mu.Unlock()
	if hold {
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) counts() (unique, received, bad, held int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies), h.received, h.badSig, h.held
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuditStreamWebhookAtLeastOnce: a webhook receiver that verifies every signature gets
// every audit entry of the organisation exactly once after deduplication on webhook-id, across
// a forced restart of the forwarder while deliveries are in flight (received, not yet
// acknowledged: they are delivered again). Each record is the entry's OCSF event with its
// ledger leaf, and no record carries message content.
func TestAuditStreamWebhookAtLeastOnce(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true, noAuditStreams: true})
	o := s.newOrg(t, testSettings())
	recv := newHookReceiver(t)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	id, secret := s.configureStream(t, o.adminKey, map[string]any{"kind": "WEBHOOK", "format": "OCSF", "endpoint": srv.URL + "/hook"})
	recv.setSecret(secret)
	// The secret is shown once: a read of the destinations never returns it.
	if list := s.ok(t, o.adminKey, qStreams, nil)["auditStreams"].([]any); len(list) != 1 ||
		strings.Contains(mustJSON(t, list), secret[6:]) {
		t.Fatalf("auditStreams = %v", list)
	}

	const n = 300
	stop := s.runForwarder(t)
	s.logouts(t, o, n/3)
	waitFor(t, "the first records", 30*time.Second, func() bool { u, _, _, _ := recv.counts(); return u >= 20 })
	// Hold the next deliveries unanswered, then kill the forwarder while they are in flight.
	recv.mu.Lock()
	recv.hold = true
	recv.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- s.recordLogouts(o, n/3) }()
	waitFor(t, "deliveries in flight", 30*time.Second, func() bool { _, _, _, h := recv.counts(); return h >= 5 })
	stop()
	recv.mu.Lock()
	recv.hold = false
	close(recv.release)
	recv.mu.Unlock()
	s.runForwarder(t)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	s.logouts(t, o, n/3)

	want := s.expectedIDs(t, o, id, n)
	waitFor(t, "every record", 60*time.Second, func() bool { u, _, _, _ := recv.counts(); return u >= len(want) })
	time.Sleep(300 * time.Millisecond)
	unique, received, bad, held := recv.counts()
	if bad != 0 {
		t.Fatalf("%d requests with a bad signature", bad)
	}
	if unique != len(want) {
		t.Fatalf("%d distinct records, want %d", unique, len(want))
	}
	if received <= unique || held == 0 {
		t.Errorf("%d deliveries of %d records (%d held): the restart should have redelivered the held ones", received, unique, held)
	}
	leaves := map[float64]bool{}
	recv.mu.Lock()
	for hid, body := range recv.bodies {
		if !want[hid] {
			t.Fatalf("record %s is not an audit entry of the organisation", hid)
		}
		var ev struct {
			ClassUID int `json:"class_uid"`
			Metadata struct {
				UID     string `json:"uid"`
				Version string `json:"version"`
			} `json:"metadata"`
			Unmapped struct {
				OrganizationID string   `json:"organization_id"`
				LeafIndex      *float64 `json:"ledger_leaf_index"`
				LeafHash       string   `json:"ledger_leaf_hash"`
			} `json:"unmapped"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Metadata.UID != hid || ev.Metadata.Version != "1.8.0" ||
			ev.Unmapped.OrganizationID != o.id || ev.Unmapped.LeafIndex == nil || len(ev.Unmapped.LeafHash) != 44 {
			t.Fatalf("record %s: %s (%v)", hid, body, err)
		}
		if leaves[*ev.Unmapped.LeafIndex] {
			t.Fatalf("leaf %v twice", *ev.Unmapped.LeafIndex)
		}
		leaves[*ev.Unmapped.LeafIndex] = true
	}
	recv.mu.Unlock()
	// The leaf hash is the ledger's.
	var hash []byte
	var anyID string
	for k := range want {
		anyID = k
		break
	}
	if err := s.p.Pool.QueryRow(context.Background(), `SELECT leaf_hash FROM ledger_leaves WHERE event_id = $1`, anyID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	got := recv.bodies[anyID]
	recv.mu.Unlock()
	if !strings.Contains(string(got), base64.StdEncoding.EncodeToString(hash)) {
		t.Fatalf("record %s does not carry its leaf hash: %s", anyID, got)
	}
	h := s.ok(t, o.adminKey, qStreams, nil)["auditStreams"].([]any)[0].(map[string]any)["health"].(map[string]any)
	if h["healthy"] != true || h["lag"].(float64) != 0 || h["delivered"].(float64) < float64(len(want)) {
		t.Fatalf("health = %v", h)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditStreamFailingDestinationDoesNotBlock: a destination that answers 503 shows its
// lag and last error while another destination of the organisation gets every record, and
// one that refuses a record for good (400) moves it to the poison queue and goes on.
func TestAuditStreamFailingDestinationDoesNotBlock(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true, noAuditStreams: true})
	o := s.newOrg(t, testSettings())
	bad, good, picky := newHookReceiver(t), newHookReceiver(t), newHookReceiver(t)
	bsrv, gsrv := httptest.NewServer(bad), httptest.NewServer(good)
	defer bsrv.Close()
	defer gsrv.Close()
	var refused sync.Once
	var refusedID string
	psrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		refused.Do(func() { first, refusedID = true, r.Header.Get("webhook-id") })
		if first {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		picky.ServeHTTP(w, r)
	}))
	defer psrv.Close()
	badID, bs := s.configureStream(t, o.adminKey, map[string]any{"kind": "WEBHOOK", "format": "JSONL", "endpoint": bsrv.URL})
	goodID, gs := s.configureStream(t, o.adminKey, map[string]any{"kind": "WEBHOOK", "format": "CEF", "endpoint": gsrv.URL})
	pickyID, ps := s.configureStream(t, o.adminKey, map[string]any{"kind": "WEBHOOK", "format": "JSONL", "endpoint": psrv.URL})
	bad.setSecret(bs)
	good.setSecret(gs)
	picky.setSecret(ps)
	bad.mu.Lock()
	bad.status = http.StatusServiceUnavailable
	bad.mu.Unlock()
	s.runForwarder(t)
	s.logouts(t, o, 40)
	want := s.expectedIDs(t, o, pickyID, 40)
	waitFor(t, "the good destination", 30*time.Second, func() bool { u, _, _, _ := good.counts(); return u >= len(want)+1 })
	waitFor(t, "the picky destination", 30*time.Second, func() bool { u, _, _, _ := picky.counts(); return u >= len(want)-1 })
	good.mu.Lock()
	for id, b := range good.bodies {
		if !strings.HasPrefix(string(b), "CEF:0|Arkiv|Arkiv|") || !strings.Contains(string(b), "externalId="+id) {
			t.Fatalf("CEF record %s: %s", id, b)
		}
	}
	good.mu.Unlock()
	picky.mu.Lock()
	_, redelivered := picky.bodies[refusedID]
	picky.mu.Unlock()
	if refusedID == "" || redelivered {
		t.Fatalf("the refused record %q was delivered again", refusedID)
	}
	var health map[string]map[string]any
	waitFor(t, "the failing destination's health", 20*time.Second, func() bool {
		health = map[string]map[string]any{}
		for _, x := range s.ok(t, o.adminKey, qStreams, nil)["auditStreams"].([]any) {
			m := x.(map[string]any)
			health[m["id"].(string)] = m["health"].(map[string]any)
		}
		return health[badID]["lastError"] != nil && health[pickyID]["poisoned"].(float64) == 1 && health[goodID]["lag"].(float64) == 0
	})
	if b := health[badID]; b["healthy"] != false || b["lag"].(float64) < float64(len(want)) || b["delivered"].(float64) != 0 ||
		!strings.Contains(b["lastError"].(string), "503") {
		t.Fatalf("failing destination's health = %v", b)
	}
	if g := health[goodID]; g["healthy"] != true || g["delivered"].(float64) < float64(len(want)) {
		t.Fatalf("good destination's health = %v", g)
	}
	var poisoned int
	if err := s.p.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_stream_poison WHERE stream_id = $1 AND event_id = $2`,
		pickyID, refusedID).Scan(&poisoned); err != nil || poisoned != 1 {
		t.Fatalf("poison queue: %d rows for %s (%v)", poisoned, refusedID, err)
	}
}

// TestAuditStreamTenantBoundary: another organisation's Admin neither sees nor removes a
// destination, nor configures over it; a User of the organisation does not see it either.
func TestAuditStreamTenantBoundary(t *testing.T) {
	s := startStack(t, stackOptions{noAuditStreams: true})
	a, b := s.newOrg(t, testSettings()), s.newOrg(t, testSettings())
	id, secret := s.configureStream(t, a.adminKey, map[string]any{"kind": "WEBHOOK", "format": "OCSF", "endpoint": "https://siem.example.org/hook"})
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	if list := s.ok(t, b.adminKey, qStreams, nil)["auditStreams"].([]any); len(list) != 0 {
		t.Fatalf("org B sees %v", list)
	}
	if r := s.do(t, b.adminKey, `mutation($id: ID!) { removeAuditStream(id: $id) { id } }`, map[string]any{"id": id}); r.code() != "FORBIDDEN" && r.code() != "NOT_FOUND" {
		t.Fatalf("org B removes A's destination: %+v", r)
	}
	if r := s.do(t, b.adminKey, mConfigureStream, map[string]any{"in": map[string]any{"id": id, "kind": "WEBHOOK", "format": "OCSF",
		"endpoint": "https://evil.example.org/hook", "rotateSecret": true}}); r.code() != "FORBIDDEN" && r.code() != "NOT_FOUND" {
		t.Fatalf("org B reconfigures A's destination: %+v", r)
	}
	_, ukey := s.user(t, a, "USER")
	if r := s.do(t, ukey, qStreams, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("a User lists destinations: %+v", r)
	}
	list := s.ok(t, a.adminKey, qStreams, nil)["auditStreams"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["endpoint"] != "https://siem.example.org/hook" {
		t.Fatalf("org A's destinations after B's attempts: %v", list)
	}
	pos := s.mutate(t, a.adminKey, `mutation($id: ID!) { removeAuditStream(id: $id) { id position } }`, map[string]any{"id": id})
	_ = pos
	waitFor(t, "the removal", 10*time.Second, func() bool { return len(s.ok(t, a.adminKey, qStreams, nil)["auditStreams"].([]any)) == 0 })
}

// tlsCert makes a self-signed certificate for 127.0.0.1.
func tlsCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pemCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pemCert
}

// rfc5424 is the header of an RFC 5424 message: PRI, version, timestamp, hostname,
// app-name, procid, msgid, then structured data and the message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) \[arkiv@32473 eventId="([0-9a-f-]{36})" outcome="(ok|denied|failed)" leafIndex="(\d+)" leafHash="([A-Za-z0-9+/=]{44})"\] (.*)$`)

// TestAuditStreamSyslogTLS: a syslog receiver over TLS (its own CA) reads octet-counted
// frames and parses each as RFC 5424 with a JSONL record as its message.
func TestAuditStreamSyslogTLS(t *testing.T) {
	s := startStack(t, stackOptions{ledger: true, noAuditStreams: true})
	o := s.newOrg(t, testSettings())
	cert, caPEM := tlsCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	got := map[string]string{}
	var parseErr error
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					lenText, err := r.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
					frame := make([]byte, n)
					if err == nil {
						_, err = io.ReadFull(r, frame)
					}
					mu.Lock()
					m := rfc5424.FindStringSubmatch(string(frame))
					switch {
					case err != nil:
						parseErr = err
					case m == nil:
						parseErr = &frameError{string(frame)}
					default:
						if pri, _ := strconv.Atoi(m[1]); pri/8 != 13 {
							parseErr = &frameError{"facility: " + string(frame)}
						}
						got[m[7]] = m[11]
					}
					mu.Unlock()
				}
			}(c)
		}
	}()
	id, _ := s.configureStream(t, o.adminKey, map[string]any{"kind": "SYSLOG", "format": "JSONL", "endpoint": ln.Addr().String(),
		"caCertificate": caPEM, "includeDetail": true})
	s.runForwarder(t)
	s.logouts(t, o, 25)
	// Content never travels, even with the detail streamed: a document's title and text.
	marker := "marker-" + uuid.NewString()
	space := s.space(t, o.adminKey)
	s.mutate(t, o.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"spaceId": space, "title": "Title " + marker, "content": "Body " + marker + "."}})
	want := s.expectedIDs(t, o, id, 28)
	waitFor(t, "the syslog records", 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(want) || parseErr != nil })
	mu.Lock()
	defer mu.Unlock()
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	for eid := range want {
		if strings.Contains(got[eid], marker) {
			t.Fatalf("record %s carries document content: %s", eid, got[eid])
		}
		var rec struct {
			EventID         string `json:"eventId"`
			Action          string `json:"action"`
			LedgerLeafIndex *int   `json:"ledgerLeafIndex"`
		}
		if err := json.Unmarshal([]byte(got[eid]), &rec); err != nil || rec.EventID != eid || rec.LedgerLeafIndex == nil {
			t.Fatalf("record %s: %q (%v)", eid, got[eid], err)
		}
	}
}

type frameError struct{ frame string }

func (e *frameError) Error() string { return "not an RFC 5424 frame: " + e.frame }

// TestAuditStreamJetStreamOCSF: a JetStream consumer of the organisation's subject gets every
// record as an OCSF event whose class attributes are consistent: class_uid of the mapped
// classes, category_uid its first digit, type_uid class × 100 + activity, a time, status
// and severity, metadata version 1.8.0 with the event id (which is also Nats-Msg-Id).
func TestAuditStreamJetStreamOCSF(t *testing.T) {
	url := os.Getenv("ARKIV_NATS_URL")
	if url == "" {
		t.Skip("ARKIV_NATS_URL is not set (arkiv stack exec starts a NATS server)")
	}
	s := startStack(t, stackOptions{ledger: true, noAuditStreams: true})
	o := s.newOrg(t, testSettings())
	suffix := "siem" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	id, secret := s.configureStream(t, o.adminKey, map[string]any{"kind": "JETSTREAM", "format": "OCSF", "endpoint": suffix})
	if secret != "" {
		t.Fatalf("a JetStream destination got a secret")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.runForwarder(t)
	s.logouts(t, o, 30)
	want := s.expectedIDs(t, o, id, 30)
	waitFor(t, "the JetStream stream", 20*time.Second, func() bool {
		js, _ := nc.JetStream()
		_, err := js.StreamInfo("ARKIV_AUDIT")
		return err == nil
	})
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := js.SubscribeSync("arkiv.audit."+o.id+"."+suffix, nats.DeliverAll(), nats.AckExplicit())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	got := map[string]bool{}
	classes := map[int]bool{3001: true, 3002: true, 3005: true, 6003: true, 6005: true, 6006: true}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(got), len(want), err)
		}
		_ = m.Ack()
		var ev struct {
			ClassUID    int    `json:"class_uid"`
			ClassName   string `json:"class_name"`
			CategoryUID int    `json:"category_uid"`
			ActivityID  int    `json:"activity_id"`
			TypeUID     int    `json:"type_uid"`
			Time        int64  `json:"time"`
			SeverityID  int    `json:"severity_id"`
			StatusID    int    `json:"status_id"`
			Status      string `json:"status"`
			Metadata    struct {
				Version string `json:"version"`
				UID     string `json:"uid"`
				Product struct {
					Name string `json:"name"`
				} `json:"product"`
			} `json:"metadata"`
			Actor *struct {
				User struct {
					UID string `json:"uid"`
				} `json:"user"`
			} `json:"actor"`
		}
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if !classes[ev.ClassUID] || ev.ClassName == "" || ev.CategoryUID != ev.ClassUID/1000 || ev.TypeUID != ev.ClassUID*100+ev.ActivityID ||
			ev.Time <= 0 || ev.SeverityID < 0 || ev.SeverityID > 6 || (ev.StatusID != 1 && ev.StatusID != 2) || ev.Status == "" ||
			ev.Metadata.Version != "1.8.0" || ev.Metadata.Product.Name == "" || !want[ev.Metadata.UID] ||
			m.Header.Get("Nats-Msg-Id") != ev.Metadata.UID {
			t.Fatalf("OCSF record %s (headers %v)", m.Data, m.Header)
		}
		if ev.Metadata.UID != "" && ev.ClassUID == 3002 && (ev.Actor == nil || ev.Actor.User.UID != o.adminID) {
			t.Fatalf("logoff without its actor: %s", m.Data)
		}
		got[ev.Metadata.UID] = true
	}
	if len(got) != len(want) {
		t.Fatalf("%d of %d records", len(got), len(want))
	}
}
