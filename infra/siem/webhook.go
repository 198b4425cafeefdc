package siem

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/arkiv/arkiv/domain"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Webhook POSTs each message's payload to a URL, signed per Standard Webhooks: webhook-id is
// the message UUID (the event id), webhook-timestamp the send time in Unix seconds, and
// webhook-signature "v1," and the base64 HMAC-SHA256, under the secret's key, of
// "id.timestamp.body". 2xx is delivered; 408, 429, 5xx and transport errors are worth a
// retry; any other answer is permanent.
type Webhook struct {
	url         string
	key         []byte
	contentType string
	client      *http.Client
	now         func() time.Time
}

var _ message.Publisher = (*Webhook)(nil)

// NewWebhook returns the publisher of a webhook; secret is "whsec_" and the base64 key.
func NewWebhook(url, secret, format string, client *http.Client, now func() time.Time) (*Webhook, error) {
	key, err := WebhookKey(secret)
	if err != nil {
		return nil, err
	}
	ct := "application/json"
	if format == domain.AuditFormatCEF {
		ct = "text/plain; charset=utf-8"
	}
	if now == nil {
		now = time.Now
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Webhook{url: url, key: key, contentType: ct, client: client, now: now}, nil
}

// WebhookKey returns the HMAC key of a "whsec_" secret.
func WebhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, domain.WebhookSecretPrefix)
	if !ok {
		return nil, errors.New("the webhook has no usable signing secret (was its organisation erased?)")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("the webhook's signing secret is malformed")
	}
	return key, nil
}

// Sign returns the webhook-signature value of a message.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Publish implements message.Publisher; topic is ignored.
func (w *Webhook) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		if err := w.post(msg); err != nil {
			return err
		}
	}
	return nil
}

func (w *Webhook) post(msg *message.Message) error {
	ts := w.now().Unix()
	req, err := http.NewRequestWithContext(msg.Context(), http.MethodPost, w.url, bytes.NewReader(msg.Payload))
	if err != nil {
		return &rejected{msg: "webhook request: " + err.Error()}
	}
	req.Header.Set("Content-Type", w.contentType)
	req.Header.Set(HeaderID, msg.UUID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.key, msg.UUID, ts, msg.Payload))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook answered %d", c)
	default:
		return &rejected{msg: fmt.Sprintf("webhook refused the record: %d", c)}
	}
}

// Close implements message.Publisher.
func (w *Webhook) Close() error { return nil }
