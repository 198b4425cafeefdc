package commands_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestRecordLogin records failed and successful logins as the system actor in the
// organisation's access log, refuses every user, appends nothing for an unknown organisation
// and never stores anything but digests.
func TestRecordLogin(t *testing.T) {
	w := newWorld(t, false)
	o := w.bootstrap("Org L", "admin@l.example")
	digest, ip := strings.Repeat("ab", 32), strings.Repeat("cd", 16)
	must(w.app.RecordLogin.Handle(w.ctx, commands.RecordLogin{Meta: meta(domain.SystemActor), OrganizationID: o.id,
		LoginDigest: digest, Reason: "bad_password", RemoteIPDigest: ip}))(t)
	must(w.app.RecordLogin.Handle(w.ctx, commands.RecordLogin{Meta: meta(domain.SystemActor), OrganizationID: o.id,
		UserID: o.admin, LoginDigest: digest}))(t)
	_, evs := w.events(domain.AccessStream(o.id))
	var failed, succeeded int
	for _, e := range evs {
		switch e := e.(type) {
		case domain.LoginFailed:
			if e.OrganizationID != o.id || e.LoginDigest != digest || e.Reason != "bad_password" || e.RemoteIPDigest != ip {
				t.Fatalf("login failed event %#v", e)
			}
			failed++
		case domain.LoginSucceeded:
			if e.UserID != o.admin || e.LoginDigest != digest || e.RemoteIPDigest != "" {
				t.Fatalf("login succeeded event %#v", e)
			}
			succeeded++
		}
	}
	if failed != 1 || succeeded != 1 {
		t.Fatalf("%d failed and %d successful logins recorded, want 1 and 1", failed, succeeded)
	}

	m := meta(o.admin)
	_, err := w.app.RecordLogin.Handle(w.ctx, commands.RecordLogin{Meta: m, OrganizationID: o.id, LoginDigest: digest, Reason: "bad_password"})
	w.expectDenied(domain.CmdRecordLogin, o.id, o.admin, m, err, domain.ReasonRole)

	unknown := uuid.NewString()
	_, err = w.app.RecordLogin.Handle(w.ctx, commands.RecordLogin{Meta: meta(domain.SystemActor), OrganizationID: unknown, LoginDigest: digest, Reason: "unknown_organization"})
	if !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("unknown organisation: %v (%s), want NOT_FOUND", err, domain.KindOf(err))
	}
	if recs, _ := w.events(domain.AccessStream(unknown)); len(recs) != 0 {
		t.Fatalf("%d events in an unknown organisation's access log", len(recs))
	}
	for _, bad := range []commands.RecordLogin{
		{OrganizationID: o.id, LoginDigest: "admin@l.example", Reason: "bad_password"},
		{OrganizationID: o.id, LoginDigest: digest, Reason: "bad_password", RemoteIPDigest: "10.0.0.1"},
		{OrganizationID: o.id, LoginDigest: digest},
		{OrganizationID: o.id, LoginDigest: digest, Reason: "Bad Password!"},
	} {
		bad.Meta = meta(domain.SystemActor)
		if _, err := w.app.RecordLogin.Handle(w.ctx, bad); !domain.Is(domain.KindInvalid, err) {
			t.Errorf("%+v: %v (%s), want INVALID", bad, err, domain.KindOf(err))
		}
	}
}
