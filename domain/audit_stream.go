package domain

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// StreamPrefixAuditStream is the prefix of the streams of audit-stream destinations.
const StreamPrefixAuditStream = "auditstream-"

// The kinds of audit-stream destination.
const (
	// AuditStreamWebhook POSTs each record to an HTTPS URL, signed per Standard Webhooks.
	AuditStreamWebhook = "WEBHOOK"
	// AuditStreamSyslog sends RFC 5424 messages over TLS with octet-counting framing (RFC 6587).
	AuditStreamSyslog = "SYSLOG"
	// AuditStreamJetStream publishes each record to a NATS JetStream subject under
	// AuditStreamSubjectPrefix and the organisation's id.
	AuditStreamJetStream = "JETSTREAM"
)

// The record formats of audit streams.
const (
	AuditFormatOCSF  = "OCSF"
	AuditFormatJSONL = "JSONL"
	AuditFormatCEF   = "CEF"
)

// AuditStreamSubjectPrefix is the first token of every JetStream subject audit records are
// published to: "arkiv.audit.<organisation id>.<subject the Admin chose>", so that no
// organisation can publish into another's subjects.
const AuditStreamSubjectPrefix = "arkiv.audit"

// Bounds of audit streams.
const (
	// MaxAuditEndpointLength bounds a URL, address or subject.
	MaxAuditEndpointLength = 2048
	// MaxAuditCALength bounds a PEM CA bundle.
	MaxAuditCALength = 64 << 10
	// WebhookSecretPrefix starts every webhook signing secret (Standard Webhooks).
	WebhookSecretPrefix = "whsec_"
)

// AuditStream is one destination of an organisation's audit records.
type AuditStream struct {
	// Kind is AuditStreamWebhook, AuditStreamSyslog or AuditStreamJetStream.
	Kind string `json:"kind"`
	// Format is AuditFormatOCSF, AuditFormatJSONL or AuditFormatCEF.
	Format string `json:"format"`
	// Endpoint is the webhook's URL, the syslog receiver's host:port, or the JetStream
	// subject suffix (one or more NATS tokens).
	Endpoint string `json:"endpoint"`
	// IncludeDetail streams the entries' readable detail (roles before and after, settings
	// diffs…) besides the skeleton; off by default.
	IncludeDetail bool `json:"includeDetail"`
	// CACertificate is a PEM bundle the syslog receiver's certificate must chain to; empty
	// means the system roots.
	CACertificate string `json:"caCertificate,omitempty"`
}

// NewAuditStream validates a destination: the kind and format known; a webhook's URL
// absolute https without credentials or fragment (http only on a loopback host); a syslog
// address host:port with a port of 1 to 65535; a JetStream subject of NATS tokens (letters,
// digits, '-', '_') separated by dots, without wildcards; a CA bundle of PEM certificates.
func NewAuditStream(kind, format, endpoint string, includeDetail bool, caPEM string) (AuditStream, error) {
	const op = "audit_stream.validate"
	s := AuditStream{Kind: strings.ToUpper(strings.TrimSpace(kind)), Format: strings.ToUpper(strings.TrimSpace(format)),
		Endpoint: strings.TrimSpace(endpoint), IncludeDetail: includeDetail, CACertificate: strings.TrimSpace(caPEM)}
	switch s.Format {
	case AuditFormatOCSF, AuditFormatJSONL, AuditFormatCEF:
	default:
		return AuditStream{}, E(KindInvalid, op, "format must be OCSF, JSONL or CEF")
	}
	if s.Endpoint == "" || len(s.Endpoint) > MaxAuditEndpointLength {
		return AuditStream{}, Errorf(KindInvalid, op, "endpoint must be 1 to %d characters", MaxAuditEndpointLength)
	}
	switch s.Kind {
	case AuditStreamWebhook:
		u, err := url.Parse(s.Endpoint)
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" {
			return AuditStream{}, E(KindInvalid, op, "a webhook endpoint must be an absolute URL without credentials or fragment")
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())) {
			return AuditStream{}, E(KindInvalid, op, "a webhook endpoint must use https (http only on a loopback host)")
		}
	case AuditStreamSyslog:
		host, port, err := net.SplitHostPort(s.Endpoint)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || strings.ContainsAny(host, "/ ") {
			return AuditStream{}, E(KindInvalid, op, "a syslog endpoint must be host:port")
		}
	case AuditStreamJetStream:
		if !validSubjectSuffix(s.Endpoint) {
			return AuditStream{}, E(KindInvalid, op, "a JetStream subject must be dot-separated tokens of letters, digits, '-' and '_'")
		}
	default:
		return AuditStream{}, E(KindInvalid, op, "kind must be WEBHOOK, SYSLOG or JETSTREAM")
	}
	if s.CACertificate != "" {
		if s.Kind != AuditStreamSyslog {
			return AuditStream{}, E(KindInvalid, op, "a CA certificate applies to syslog destinations only")
		}
		if len(s.CACertificate) > MaxAuditCALength || !validCABundle(s.CACertificate) {
			return AuditStream{}, E(KindInvalid, op, "the CA certificate must be PEM certificates")
		}
	}
	return s, nil
}

func validSubjectSuffix(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || len(tok) > 64 {
			return false
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validCABundle(s string) bool {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return false
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return false
		}
		n++
	}
	return n > 0 && strings.TrimSpace(string(rest)) == ""
}

// JetStreamSubject returns the full subject an organisation's destination publishes to.
func JetStreamSubject(orgID, suffix string) string {
	return AuditStreamSubjectPrefix + "." + orgID + "." + suffix
}

// GenerateWebhookSecret draws a Standard Webhooks signing secret: "whsec_" and the base64 of
// 32 random bytes (the HMAC-SHA256 key).
func GenerateWebhookSecret(random io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", Wrap(KindInternal, "audit_stream.secret", err, "could not draw a random secret")
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// AuditStreamConfigured records a destination's configuration, new or replaced. Secret is
// the webhook signing secret, sealed under the organisation; empty (and not sealed) for other
// kinds.
type AuditStreamConfigured struct {
	StreamID       string      `json:"streamId"`
	OrganizationID string      `json:"organizationId"`
	Config         AuditStream `json:"config"`
	Secret         Sealed      `json:"secret,omitempty"`
	ConfiguredBy   string      `json:"configuredBy"`
}

// EventName implements Event.
func (AuditStreamConfigured) EventName() string { return "auditstream.configured.v1" }

// AuditStreamRemoved records that a destination receives nothing more.
type AuditStreamRemoved struct {
	StreamID       string `json:"streamId"`
	OrganizationID string `json:"organizationId"`
	RemovedBy      string `json:"removedBy"`
}

// EventName implements Event.
func (AuditStreamRemoved) EventName() string { return "auditstream.removed.v1" }

// AuditStreamDestination is the aggregate of one destination.
type AuditStreamDestination struct {
	root
	cfg     AuditStream
	secret  bool
	removed bool
}

// NewAuditStreamDestination returns an empty destination aggregate with the given id.
func NewAuditStreamDestination(id string) *AuditStreamDestination {
	return &AuditStreamDestination{root: newRoot(StreamPrefixAuditStream, id)}
}

// Configure records the destination's configuration for org. secret is the webhook signing
// secret of a new webhook destination, or of one whose secret is rotated; "" keeps the
// current one. A webhook destination must end up with a secret, other kinds have none.
func (d *AuditStreamDestination) Configure(org string, cfg AuditStream, secret, by string) error {
	const op = "audit_stream.configure"
	if d.removed {
		return errGone(op, "audit stream")
	}
	if d.created() && d.org != org {
		return errGone(op, "audit stream")
	}
	if err := ValidateID("audit stream id", d.id); err != nil {
		return err
	}
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	cfg, err := NewAuditStream(cfg.Kind, cfg.Format, cfg.Endpoint, cfg.IncludeDetail, cfg.CACertificate)
	if err != nil {
		return err
	}
	if d.created() && cfg.Kind != d.cfg.Kind {
		return E(KindInvalid, op, "a destination's kind cannot change; remove it and configure a new one")
	}
	e := AuditStreamConfigured{StreamID: d.id, OrganizationID: org, Config: cfg, ConfiguredBy: by}
	switch {
	case cfg.Kind != AuditStreamWebhook && secret != "":
		return E(KindInvalid, op, "only webhook destinations have a secret")
	case cfg.Kind == AuditStreamWebhook && secret == "" && !d.secret:
		return E(KindInvalid, op, "a webhook destination needs a signing secret")
	case secret != "":
		if !strings.HasPrefix(secret, WebhookSecretPrefix) {
			return E(KindInvalid, op, "a webhook secret starts with whsec_")
		}
		e.Secret = Seal(secret, OrganizationSubject(org))
	}
	record(d, e)
	return nil
}

// Remove records that the destination receives nothing more.
func (d *AuditStreamDestination) Remove(by string) error {
	const op = "audit_stream.remove"
	if !d.created() || d.removed {
		return errGone(op, "audit stream")
	}
	record(d, AuditStreamRemoved{StreamID: d.id, OrganizationID: d.org, RemovedBy: by})
	return nil
}

// Config returns the destination's configuration.
func (d *AuditStreamDestination) Config() AuditStream { return d.cfg }

// Removed reports whether the destination was removed.
func (d *AuditStreamDestination) Removed() bool { return d.removed }

func (d *AuditStreamDestination) apply(e Event) {
	switch e := e.(type) {
	case AuditStreamConfigured:
		d.org, d.cfg = e.OrganizationID, e.Config
		if e.Secret.Plain != "" || e.Secret.Redacted {
			d.secret = true
		}
	case AuditStreamRemoved:
		d.removed = true
	}
}
