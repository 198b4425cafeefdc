// Package siem holds the Watermill publishers that deliver audit records to an
// organisation's SIEM: an HTTP webhook signed per the Standard Webhooks scheme, syslog
// (RFC 5424) over TLS with octet-counting framing (RFC 6587), and NATS JetStream through
// watermill-nats. Each message's UUID is the event id (receivers deduplicate on it), its
// payload the formatted record, its metadata the record's time, action, outcome and ledger
// leaf. A publisher returns an error that reports Permanent() true when retrying cannot
// help (a webhook's 4xx answer); any other error is worth retrying. Secrets never appear in
// errors or logs.
package siem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/domain"
	"github.com/nats-io/nats.go"
)

// Metadata keys the publishers read (set by the forwarder, projections/auditstream).
const (
	MetaOccurredAt = "arkiv_occurred_at"
	MetaAction     = "arkiv_action"
	MetaOutcome    = "arkiv_outcome"
	MetaLeafIndex  = "arkiv_leaf_index"
	MetaLeafHash   = "arkiv_leaf_hash"
	MetaFormat     = "arkiv_format"
)

// Destination is what a publisher needs of an audit stream.
type Destination struct {
	ID             string
	OrganizationID string
	// Kind is domain.AuditStreamWebhook, AuditStreamSyslog or AuditStreamJetStream.
	Kind string
	// Format is the records' format (domain.AuditFormat*): it sets a webhook's content type.
	Format   string
	Endpoint string
	// Secret is a webhook's "whsec_…" signing secret.
	Secret string
	// CACertificate is a syslog receiver's PEM CA bundle; empty: the system roots.
	CACertificate string
}

// StreamName is the JetStream stream that captures every audit subject (arkiv.audit.>).
const StreamName = "ARKIV_AUDIT"

// Sinks opens publishers. The zero value works for webhooks and syslog; JetStream needs
// NATSURL.
type Sinks struct {
	// NATSURL is the NATS server with JetStream (ARKIV_NATS_URL).
	NATSURL string
	// HTTP is the webhook client; nil: one with 10s timeouts that follows no redirects.
	HTTP *http.Client
	// Hostname is the syslog HOSTNAME field; empty: os.Hostname().
	Hostname string
	// Now stamps webhook-timestamp; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	once   sync.Once
	client *http.Client

	mu sync.Mutex
	nc *nats.Conn
}

// Open returns the publisher of d and the topic to publish to.
func (s *Sinks) Open(ctx context.Context, d Destination) (message.Publisher, string, error) {
	s.once.Do(func() {
		s.client = s.HTTP
		if s.client == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, 512 // no reconnects under a wide window
			s.client = &http.Client{Transport: t, Timeout: 10 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		if s.Hostname == "" {
			s.Hostname, _ = os.Hostname()
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
	})
	switch d.Kind {
	case domain.AuditStreamWebhook:
		w, err := NewWebhook(d.Endpoint, d.Secret, d.Format, s.client, s.Now)
		return w, d.Endpoint, err
	case domain.AuditStreamSyslog:
		p, err := NewSyslog(d.Endpoint, d.CACertificate, s.Hostname)
		return p, d.Endpoint, err
	case domain.AuditStreamJetStream:
		p, err := s.jetStream(ctx)
		return p, domain.JetStreamSubject(d.OrganizationID, d.Endpoint), err
	}
	return nil, "", fmt.Errorf("unknown audit stream kind %q", d.Kind)
}

// Close closes the NATS connection, if one was opened.
func (s *Sinks) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
}

// jetStream returns a watermill-nats publisher over the shared connection, connecting and
// creating the audit stream on first use.
func (s *Sinks) jetStream(ctx context.Context) (message.Publisher, error) {
	if s.NATSURL == "" {
		return nil, errors.New("no NATS server is configured (ARKIV_NATS_URL)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc == nil {
		nc, err := nats.Connect(s.NATSURL, nats.Name("arkiv-audit-streams"), nats.MaxReconnects(-1),
			nats.ReconnectWait(500*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("connect to NATS: %w", err)
		}
		if err := EnsureStream(ctx, nc); err != nil {
			nc.Close()
			return nil, err
		}
		s.nc = nc
	}
	pub, err := wmnats.NewPublisherWithNatsConn(s.nc, wmnats.PublisherPublishConfig{
		Marshaler: &wmnats.NATSMarshaler{}, SubjectCalculator: wmnats.DefaultSubjectCalculator,
		// The message UUID (the event id) becomes Nats-Msg-Id: JetStream drops a redelivered
		// record within its duplicate window.
		JetStream: wmnats.JetStreamConfig{TrackMsgId: true},
	}, watermill.NewSlogLogger(s.Logger))
	if err != nil {
		return nil, fmt.Errorf("JetStream publisher: %w", err)
	}
	return sharedConn{pub}, nil
}

// EnsureStream creates the JetStream stream StreamName over "arkiv.audit.>" when it is
// missing (file storage, a two-minute duplicate window).
func EnsureStream(ctx context.Context, nc *nats.Conn) error {
	js, err := nc.JetStream(nats.Context(ctx))
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	if _, err := js.StreamInfo(StreamName, nats.Context(ctx)); err == nil {
		return nil
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: StreamName, Subjects: []string{domain.AuditStreamSubjectPrefix + ".>"},
		Storage: nats.FileStorage, Duplicates: 2 * time.Minute}, nats.Context(ctx))
	if err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create JetStream stream %s: %w", StreamName, err)
	}
	return nil
}

// sharedConn keeps Close from closing the connection other destinations share.
type sharedConn struct{ message.Publisher }

func (sharedConn) Close() error { return nil }

// rejected is a permanent delivery error.
type rejected struct{ msg string }

func (r *rejected) Error() string   { return r.msg }
func (r *rejected) Permanent() bool { return true }
