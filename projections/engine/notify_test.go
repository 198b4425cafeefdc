package engine

import (
	"strconv"
	"strings"
	"testing"
)

// TestNotificationsNameTheirOrganisations: a commit's notification names the organisations
// of its events (deduplicated), none for events without one, all beyond maxNotifiedOrgs;
// ParseNotification reads it back, and an older notification without organisations means
// all of them.
func TestNotificationsNameTheirOrganisations(t *testing.T) {
	t.Parallel()
	ev := func(md string) Event { return Event{Metadata: []byte(md)} }
	if got := orgsOf([]Event{ev(`{"organization":"a"}`), ev(`{"organization":"b"}`), ev(`{"organization":"a"}`), ev(`{}`), ev(``)}); got != "a,b" {
		t.Errorf("orgsOf = %q, want a,b", got)
	}
	if got := orgsOf([]Event{ev(`{}`), ev(`not json`)}); got != OrgsNone {
		t.Errorf("orgsOf of events without an organisation = %q", got)
	}
	var many []Event
	for i := range maxNotifiedOrgs + 1 {
		many = append(many, ev(`{"organization":"org`+strconv.Itoa(i)+`"}`))
	}
	if got := orgsOf(many); got != OrgsAll {
		t.Errorf("orgsOf of %d organisations = %q", len(many), got)
	}
	for _, md := range []string{`{"organization":"a b"}`, `{"organization":"a\"b"}`, `{"organization":"a,b"}`, `{"organization":"a`} {
		if got := orgsOf([]Event{ev(md)}); got != OrgsAll {
			t.Errorf("the organisation of %s is announced as %q, want all", md, got)
		}
	}
	for payload, want := range map[string][3]string{
		"readmodel 42 a,b":     {"readmodel", "42", "a,b"},
		"readmodel 42":         {"readmodel", "42", OrgsAll},
		"audit failed":         {"audit", "failed", OrgsAll},
		"ledger 7 " + OrgsNone: {"ledger", "7", OrgsNone},
	} {
		name, val, orgs, ok := ParseNotification(payload)
		if !ok || [3]string{name, val, orgs} != want {
			t.Errorf("ParseNotification(%q) = %q %q %q %v, want %v", payload, name, val, orgs, ok, want)
		}
	}
	if _, _, _, ok := ParseNotification("garbage"); ok {
		t.Error("a notification without a position parses")
	}
	if strings.Contains(orgsOf(many[:maxNotifiedOrgs]), OrgsAll) {
		t.Error("maxNotifiedOrgs organisations are announced as all")
	}
}
