package siem

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// SyslogSDID is the structured-data id of Arkiv's record parameters (32473 is the private
// enterprise number RFC 5612 reserves for documentation).
const SyslogSDID = "arkiv@32473"

// Syslog writes each message as an RFC 5424 message over TLS (1.2 or newer), framed by octet
// counting (RFC 6587 3.4.1: the length in decimal, a space, the message). Facility is 13
// (log audit); severity 6 (informational) for ok entries, 4 (warning) otherwise. MSGID is
// the action, the structured data [arkiv@32473 …] carries the event id, outcome and ledger
// leaf, and MSG is the formatted record. One connection, reopened after a failure; writes
// are serialised.
type Syslog struct {
	addr     string
	tls      *tls.Config
	hostname string

	mu   sync.Mutex
	conn net.Conn
}

var _ message.Publisher = (*Syslog)(nil)

// NewSyslog returns the publisher of a syslog receiver at addr (host:port); caPEM, when
// set, replaces the system roots.
func NewSyslog(addr, caPEM, hostname string) (*Syslog, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("syslog address: %w", err)
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("the syslog CA certificate holds no certificate")
		}
		cfg.RootCAs = pool
	}
	return &Syslog{addr: addr, tls: cfg, hostname: headerField(hostname, 255)}, nil
}

// Publish implements message.Publisher; topic is ignored.
func (s *Syslog) Publish(_ string, msgs ...*message.Message) error {
	frames := make([]byte, 0, 1024*len(msgs))
	for _, m := range msgs {
		frames = AppendFrame(frames, FormatSyslog(s.hostname, m))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: s.tls}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
		s.conn = c
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.conn.Write(frames); err != nil {
		_ = s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// Close implements message.Publisher.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// AppendFrame appends msg with octet-counting framing.
func AppendFrame(b, msg []byte) []byte {
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

// FormatSyslog returns the RFC 5424 message of a record.
func FormatSyslog(hostname string, m *message.Message) []byte {
	sev := 6
	if o := m.Metadata.Get(MetaOutcome); o != "" && o != "ok" {
		sev = 4
	}
	ts := "-"
	if t, err := time.Parse(time.RFC3339Nano, m.Metadata.Get(MetaOccurredAt)); err == nil {
		ts = t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	}
	hostname = headerField(hostname, 255)
	b := make([]byte, 0, 256+len(m.Payload))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(13*8+sev), 10)
	b = append(b, ">1 "...)
	b = append(b, ts...)
	b = append(b, ' ')
	b = append(b, hostname...)
	b = append(b, " arkiv - "...)
	b = append(b, headerField(m.Metadata.Get(MetaAction), 32)...)
	b = append(b, " ["...)
	b = append(b, SyslogSDID...)
	param := func(k, v string) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, `="`...)
		for i := 0; i < len(v); i++ {
			if c := v[i]; c == '"' || c == '\\' || c == ']' {
				b = append(b, '\\')
			}
			b = append(b, v[i])
		}
		b = append(b, '"')
	}
	param("eventId", m.UUID)
	param("outcome", m.Metadata.Get(MetaOutcome))
	param("leafIndex", m.Metadata.Get(MetaLeafIndex))
	param("leafHash", m.Metadata.Get(MetaLeafHash))
	b = append(b, "] "...)
	return append(b, m.Payload...)
}

// headerField returns s as a syslog header field: printable US-ASCII without spaces, at
// most max characters, "-" when empty.
func headerField(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	if s == "" {
		return "-"
	}
	return s
}
