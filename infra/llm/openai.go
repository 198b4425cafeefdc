package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// Config configures the OpenAI-compatible client.
type Config struct {
	// APIKey, when set, is sent in APIKeyHeader. It is never logged.
	APIKey string
	// APIKeyHeader is "Authorization" (default: "Bearer <key>") or e.g. "api-key" (Azure:
	// the bare key).
	APIKeyHeader string
	// Timeout is the longest wait for the response headers and then between two streamed
	// events (default 60s). The caller's context bounds the whole call.
	Timeout time.Duration
	// MaxAttempts bounds the calls per request, retries included (default 3). Only failures
	// before the first streamed token are retried: timeouts, connection errors, 429 and 5xx.
	MaxAttempts int
	// BackoffInitial and BackoffMax shape the exponential backoff between attempts
	// (defaults 250ms and 4s); a Retry-After header is honoured up to BackoffMax.
	BackoffInitial, BackoffMax time.Duration
	// HTTPClient is the client used (default: a new one without overall timeout).
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = "Authorization"
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = 250 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 4 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return c
}

// OpenAI is a client for one OpenAI-compatible chat-completions endpoint.
type OpenAI struct {
	url  string
	host string
	cfg  Config
}

// NewOpenAI returns a client for the server at base (e.g. "http://127.0.0.1:11434" or
// "https://llm.example.eu/v1"); requests go to {base}/v1/chat/completions.
func NewOpenAI(base string, cfg Config) (*OpenAI, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, domain.E(domain.KindInvalid, "llm.NewOpenAI", "model endpoint must be an http(s) URL without credentials")
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path = p + "/chat/completions"
	return &OpenAI{url: u.String(), host: u.Host, cfg: cfg.withDefaults()}, nil
}

// URL returns the chat-completions URL requests are posted to.
func (c *OpenAI) URL() string { return c.url }

// attemptError is one attempt's failure; retry marks it as worth retrying.
type attemptError struct {
	msg        string
	retry      bool
	timeout    bool
	retryAfter time.Duration
	err        error
}

func (e *attemptError) Error() string { return e.msg }
func (e *attemptError) Unwrap() error { return e.err }

// Complete posts the request with stream: true, passes each text delta to req.OnToken and
// returns the reply with usage counts and the exact request bytes. Failures before the first
// token are retried up to MaxAttempts with backoff; the error is then KindUnavailable with
// a message safe to show, and the response still carries the payload and attempts.
func (c *OpenAI) Complete(ctx context.Context, req commands.ModelRequest) (commands.ModelResponse, error) {
	const op = "llm.complete"
	payload, err := BuildPayload(req)
	if err != nil {
		return commands.ModelResponse{}, err
	}
	res := commands.ModelResponse{RequestPayload: payload, RequestParts: SplitPayload(payload, req.Excerpts)}
	var last *attemptError
	call := func() (struct{}, error) {
		res.Attempts++
		streamed := false
		ae := c.attempt(ctx, req, payload, &res, &streamed)
		if ae == nil {
			return struct{}{}, nil
		}
		last = ae
		res.Timeout = ae.timeout
		if !ae.retry || streamed {
			return struct{}{}, backoff.Permanent(ae)
		}
		return struct{}{}, ae
	}
	// Retry stops at MaxAttempts, on a permanent failure or when ctx ends; its own error
	// (possibly ctx's) is not needed: last holds the failure of the last attempt.
	if _, err := backoff.Retry(ctx, call, backoff.WithMaxTries(uint(c.cfg.MaxAttempts)),
		backoff.WithMaxElapsedTime(0), backoff.WithBackOff(c.newBackOff(&last))); err == nil {
		return res, nil
	}
	if ctx.Err() != nil && !res.Timeout {
		res.Timeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
	}
	// One message for every failure, whatever it was (refused, timed out, not HTTP, an
	// error status, a malformed answer): the detail would tell a tenant about hosts and
	// ports. It goes to the server log only.
	slog.Warn("llm: the model call failed", "op", op, "endpoint_host", c.host, "attempts", res.Attempts,
		"failure", last.msg, "timeout", res.Timeout)
	return res, domain.Wrap(domain.KindUnavailable, op, last, "the model did not answer; please try again later")
}

// newBackOff returns the wait before each retry: exponential from BackoffInitial, doubling,
// capped at BackoffMax, without jitter; a Retry-After of the failed attempt (*last) is
// honoured up to BackoffMax instead.
func (c *OpenAI) newBackOff(last **attemptError) backoff.BackOff {
	return retryAfterBackOff{exp: &backoff.ExponentialBackOff{InitialInterval: c.cfg.BackoffInitial,
		Multiplier: 2, MaxInterval: c.cfg.BackoffMax}, last: last, max: c.cfg.BackoffMax}
}

// retryAfterBackOff is an exponential backoff that a server's Retry-After overrides.
type retryAfterBackOff struct {
	exp  *backoff.ExponentialBackOff
	last **attemptError
	max  time.Duration
}

// NextBackOff implements backoff.BackOff.
func (b retryAfterBackOff) NextBackOff() time.Duration {
	next := b.exp.NextBackOff()
	if ae := *b.last; ae != nil && ae.retryAfter > 0 {
		next = ae.retryAfter
	}
	return min(next, b.max)
}

// Reset implements backoff.BackOff.
func (b retryAfterBackOff) Reset() { b.exp.Reset() }

// attempt makes one call. It fills res on success; streamed reports whether a token
// reached the caller (then the call must not be retried).
func (c *OpenAI) attempt(ctx context.Context, req commands.ModelRequest, payload []byte, res *commands.ModelResponse, streamed *bool) *attemptError {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	timedOut := false
	timer := time.AfterFunc(c.cfg.Timeout, func() {
		mu.Lock()
		timedOut = true
		mu.Unlock()
		cancel()
	})
	defer timer.Stop()
	didTimeout := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return timedOut
	}
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return &attemptError{msg: "bad request", err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if c.cfg.APIKey != "" {
		v := c.cfg.APIKey
		if strings.EqualFold(c.cfg.APIKeyHeader, "Authorization") {
			v = "Bearer " + v
		}
		hreq.Header.Set(c.cfg.APIKeyHeader, v)
	}
	resp, err := c.cfg.HTTPClient.Do(hreq)
	if err != nil {
		if didTimeout() {
			return &attemptError{msg: "timed out", retry: true, timeout: true, err: err}
		}
		return &attemptError{msg: "the model endpoint is unreachable", retry: ctx.Err() == nil, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		ae := &attemptError{msg: fmt.Sprintf("the model endpoint answered HTTP %d", resp.StatusCode),
			err: fmt.Errorf("status %d", resp.StatusCode)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			ae.retry = true
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				ae.retryAfter = time.Duration(s) * time.Second
			}
		}
		return ae
	}
	timer.Reset(c.cfg.Timeout)
	raw := &capped{max: domain.MaxPayloadBytes}
	body := io.TeeReader(resp.Body, raw)
	var text strings.Builder
	var perr error
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		perr = parseJSON(body, &text, res, req.OnToken, streamed)
	} else {
		perr = parseSSE(body, &text, res, func(d string) {
			timer.Reset(c.cfg.Timeout)
			*streamed = true
			if req.OnToken != nil {
				req.OnToken(d)
			}
		}, func() { timer.Reset(c.cfg.Timeout) })
	}
	if perr != nil {
		if didTimeout() {
			return &attemptError{msg: "timed out", retry: true, timeout: true, err: perr}
		}
		return &attemptError{msg: "the model's answer was cut off or malformed", retry: ctx.Err() == nil, err: perr}
	}
	res.Text = text.String()
	res.ResponsePayload = raw.b.Bytes()
	if res.PromptTokens == 0 && res.CompletionTokens == 0 {
		res.PromptTokens, res.CompletionTokens = EstimateTokens(string(payload)), EstimateTokens(res.Text)
	}
	return nil
}

// capped keeps at most max bytes of what is written to it.
type capped struct {
	b   bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// parseSSE reads a chat-completions event stream until "data: [DONE]" or the end.
func parseSSE(r io.Reader, text *strings.Builder, res *commands.ModelResponse, onDelta func(string), onEvent func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	done := false
	for sc.Scan() {
		onEvent()
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			done = true
			break
		}
		var ch chunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			return fmt.Errorf("bad stream event: %w", err)
		}
		if ch.Error != nil {
			return errors.New("the stream reported an error")
		}
		if ch.Usage != nil {
			res.PromptTokens, res.CompletionTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
		}
		for _, c := range ch.Choices {
			if d := c.Delta.Content; d != "" {
				text.WriteString(d)
				onDelta(d)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !done && text.Len() == 0 {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// parseJSON reads a non-streamed chat completion (servers that ignore stream: true).
func parseJSON(r io.Reader, text *strings.Builder, res *commands.ModelResponse, onToken func(string), streamed *bool) error {
	var ch chunk
	if err := json.NewDecoder(io.LimitReader(r, 8<<20)).Decode(&ch); err != nil {
		return err
	}
	if ch.Error != nil || len(ch.Choices) == 0 {
		return errors.New("no choices in the answer")
	}
	text.WriteString(ch.Choices[0].Message.Content)
	if ch.Usage != nil {
		res.PromptTokens, res.CompletionTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
	}
	if onToken != nil && text.Len() > 0 {
		*streamed = true
		onToken(text.String())
	}
	return nil
}

// EstimateTokens approximates a token count for providers that report none: about four
// bytes of text per token.
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }
