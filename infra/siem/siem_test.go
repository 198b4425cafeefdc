package siem

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// TestSignStandardWebhooksVector signs the example of the Standard Webhooks specification
// and checks that a changed byte of the body, id or timestamp changes the signature.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := WebhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	const id, ts, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, `{"test": 2432232314}`
	want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got := Sign(key, id, ts, []byte(body)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for name, got := range map[string]string{
		"body":      Sign(key, id, ts, []byte(`{"test": 2432232315}`)),
		"id":        Sign(key, id+"x", ts, []byte(body)),
		"timestamp": Sign(key, id, ts+1, []byte(body)),
	} {
		if got == want {
			t.Errorf("a changed %s keeps the signature", name)
		}
	}
	if _, err := WebhookKey("sk_nope"); err == nil {
		t.Fatal("a secret without whsec_ was accepted")
	}
}

// TestSyslogFrame formats a record as RFC 5424 and frames it by octet counting; a message
// holding spaces, quotes and a newline survives, and the SD parameters are escaped.
func TestSyslogFrame(t *testing.T) {
	m := message.NewMessage("0b0f0000-0000-4000-8000-000000000001", []byte("CEF:0|a \"b\"\nc"))
	m.Metadata.Set(MetaOccurredAt, "2026-03-01T12:00:00.123456789Z")
	m.Metadata.Set(MetaAction, "access.model_invocations_viewed.v1")
	m.Metadata.Set(MetaOutcome, "denied")
	m.Metadata.Set(MetaLeafIndex, "42")
	m.Metadata.Set(MetaLeafHash, `a"b]`)
	msg := FormatSyslog("host name", m)
	want := `<108>1 2026-03-01T12:00:00.123456Z hostname arkiv - access.model_invocations_viewed. [arkiv@32473 ` +
		`eventId="0b0f0000-0000-4000-8000-000000000001" outcome="denied" leafIndex="42" leafHash="a\"b\]"] CEF:0|a "b"` + "\nc"
	if string(msg) != want {
		t.Fatalf("message\n%s\nwant\n%s", msg, want)
	}
	framed := AppendFrame(AppendFrame(nil, msg), []byte("x"))
	r := bufio.NewReader(strings.NewReader(string(framed)))
	for _, w := range []string{want, "x"} {
		n, _ := r.ReadString(' ')
		size, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || size != len(w) {
			t.Fatalf("frame length %q for %d bytes", n, len(w))
		}
		b := make([]byte, size)
		if _, err := r.Read(b); err != nil || string(b) != w {
			t.Fatalf("frame %q", b)
		}
	}
}
