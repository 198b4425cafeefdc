package domain

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const testUUID = "0b0f5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"

func TestSubjectStringParseRoundTrip(t *testing.T) {
	day := time.Date(2026, 3, 3, 23, 30, 0, 0, time.FixedZone("CET", 3600))
	for _, s := range []Subject{
		UserSubject(testUUID), DocumentSubject(testUUID), ConversationSubject(testUUID),
		SpaceSubject(testUUID), OrganizationSubject(strings.ToUpper(testUUID)),
		RetentionBucket(testUUID, day), ModelLogBucket(testUUID, day),
	} {
		got, err := ParseSubject(s.String())
		if err != nil {
			t.Fatalf("ParseSubject(%q): %v", s, err)
		}
		if got != s {
			t.Fatalf("round trip %q -> %+v", s, got)
		}
	}
	if got := RetentionBucket(testUUID, day).ID; got != testUUID+"/2026-03-03" {
		t.Fatalf("retention bucket id %q: the day must be taken in UTC", got)
	}
	if got := OrganizationSubject(strings.ToUpper(testUUID)).ID; got != testUUID {
		t.Fatalf("constructor did not canonicalise the id: %q", got)
	}
}

func TestParseSubjectRejectsNonCanonical(t *testing.T) {
	for _, in := range []string{
		"", "user", "user:", "user:u1", "alien:" + testUUID, "user:" + strings.ToUpper(testUUID),
		"retention:" + testUUID, "retention:" + testUUID + "/2026-3-3", "modellog:x/2026-03-03",
		"user:" + testUUID + "/2026-03-03", "retention:" + testUUID + "/2026-02-30",
	} {
		if _, err := ParseSubject(in); !Is(KindInvalid, err) {
			t.Errorf("ParseSubject(%q) = %v, want an invalid error", in, err)
		}
	}
}

func TestSealedNeverRevealsPlaintext(t *testing.T) {
	s := Seal("secret text", UserSubject(testUUID))
	type event struct{ Text Sealed }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if out := fmt.Sprintf(verb, event{s}); strings.Contains(out, "secret") {
			t.Errorf("%s printed the plaintext: %s", verb, out)
		}
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "field", s)
	if strings.Contains(b.String(), "secret") {
		t.Errorf("slog printed the plaintext: %s", b.String())
	}
	if out, err := json.Marshal(event{s}); err == nil || strings.Contains(string(out), "secret") {
		t.Errorf("json.Marshal of a Sealed field = %s, %v; want an error", out, err)
	}
	var e event
	if err := json.Unmarshal([]byte(`{"Text":"secret"}`), &e); err == nil {
		t.Error("json.Unmarshal into a Sealed field succeeded outside the codec")
	}
}

func TestSubjectRequestDueIsOneMonthLater(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"2026-03-03T09:00:00Z", "2026-04-03T09:00:00Z"},
		{"2026-01-31T12:00:00Z", "2026-02-28T12:00:00Z"},
		{"2028-01-31T12:00:00Z", "2028-02-29T12:00:00Z"},
		{"2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z"},
	} {
		in, _ := time.Parse(time.RFC3339, c.in)
		if got := SubjectRequestDue(in).Format(time.RFC3339); got != c.want {
			t.Errorf("due of %s = %s, want %s", c.in, got, c.want)
		}
	}
}
