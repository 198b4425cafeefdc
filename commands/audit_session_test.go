package commands_test

import (
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// Reading audit data needs a reason: the first read without one is refused (and the refusal
// recorded), a reason opens an hour-long session recorded with the reason, reads without one
// pass within it, and are refused again once it expired; every read is in the access log.
func TestAuditSessionsGateReadsOfAuditData(t *testing.T) {
	w := newWorld(t, true)
	o := w.bootstrap("Kommun", "admin@kommun.se")
	space, _ := w.space(o)
	period := func() (time.Time, time.Time) { now := w.clock.Now(); return now.Add(-time.Hour), now }
	view := func(reason string) (commands.Meta, error) {
		m := meta(o.admin)
		from, to := period()
		_, err := w.app.ViewAuditLog.Handle(w.ctx, commands.ViewAuditLog{Meta: m, Justification: reason, From: from, To: to})
		return m, err
	}
	invocations := func(reason string) error {
		_, err := w.app.ViewModelInvocations.Handle(w.ctx, commands.ViewModelInvocations{Meta: meta(o.admin), SpaceID: space, Justification: reason})
		return err
	}
	export := func(reason string) error {
		from, to := period()
		_, err := w.app.ExportAuditLog.Handle(w.ctx, commands.ExportAuditLog{Meta: meta(o.admin), Justification: reason,
			Format: domain.FormatJSONL, From: from, To: to})
		return err
	}

	// No reason, no session: refused, and the refusal recorded.
	m, err := view("")
	if !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("audit log without a reason or a session: %v, want FORBIDDEN", err)
	}
	if d, ok := w.denial(o.id, m.CommandID); !ok || d.Reason != domain.ReasonNoAuditSession {
		t.Fatalf("the refusal is not recorded: %+v %v", d, ok)
	}
	for _, f := range []func(string) error{invocations, export} {
		if err := f(""); !domain.Is(domain.KindForbidden, err) {
			t.Fatalf("read without a reason or a session: %v, want FORBIDDEN", err)
		}
	}
	// A reason of the wrong length is invalid.
	if _, err := view("too short"); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("a 9-character reason: %v, want INVALID", err)
	}
	if _, err := view(string(make([]rune, 501))); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("a 501-character reason: %v, want INVALID", err)
	}

	// A reason opens a session, recorded with the reason.
	const reason = "Quarterly access review, ticket 2026-17."
	if _, err := view(reason); err != nil {
		t.Fatal(err)
	}
	_, evs := w.events(domain.StreamPrefixAuditSession + o.admin)
	if len(evs) != 1 {
		t.Fatalf("%d session events, want 1", len(evs))
	}
	opened := evs[0].(domain.AuditSessionOpened)
	if opened.Reason.Plain != reason || opened.UserID != o.admin || opened.OrganizationID != o.id ||
		opened.ExpiresAt.Sub(opened.OpenedAt) != domain.DefaultAuditSessionTTL {
		t.Fatalf("session event %+v", opened)
	}

	// Within the hour, reads without a reason pass; one with a reason continues the session.
	w.clock.Advance(30 * time.Minute)
	if _, err := view(""); err != nil {
		t.Fatalf("audit log within the session: %v", err)
	}
	if err := invocations(""); err != nil {
		t.Fatalf("model invocations within the session: %v", err)
	}
	if err := export("Exporting for the auditor, as agreed."); err != nil {
		t.Fatalf("export within the session: %v", err)
	}
	if _, evs := w.events(domain.StreamPrefixAuditSession + o.admin); len(evs) != 1 {
		t.Fatalf("a read with a reason inside a session opened another: %d sessions", len(evs))
	}

	// After the hour, refused again.
	w.clock.Advance(31 * time.Minute)
	if _, err := view(""); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("audit log after the session expired: %v, want FORBIDDEN", err)
	}
	if err := invocations(""); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("model invocations after the session expired: %v, want FORBIDDEN", err)
	}

	// Everything is audited: each read that passed, each refusal.
	_, access := w.events(domain.AccessStream(o.id))
	count := map[string]int{}
	for _, e := range access {
		switch e := e.(type) {
		case domain.AccessDenied:
			if e.Reason == domain.ReasonNoAuditSession {
				count["denied"]++
			}
		default:
			count[e.EventName()]++
		}
	}
	want := map[string]int{"denied": 5, "access.audit_log_viewed.v1": 2, "access.model_invocations_viewed.v1": 1,
		"access.audit_log_exported.v1": 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d access events, want %d (all: %v)", k, count[k], n, count)
		}
	}
}

// An as-of read is recorded before it is answered, with the question and the instant, and
// a reason opens a session it is read in.
func TestViewHistoryIsAudited(t *testing.T) {
	w := newWorld(t, false)
	o := w.bootstrap("Kommun", "admin@kommun.se")
	space, _ := w.space(o)
	at := w.clock.Now().Add(-24 * time.Hour)
	if _, err := w.app.ViewHistory.Handle(w.ctx, commands.ViewHistory{Meta: meta(o.admin), Query: "who", TargetID: space, AsOf: at}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("an unknown question: %v, want INVALID", err)
	}
	user := w.user(o, domain.OrgRoleUser)
	if _, err := w.app.ViewHistory.Handle(w.ctx, commands.ViewHistory{Meta: meta(user), Query: domain.HistorySettings, AsOf: at}); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("a user's as-of read: %v, want FORBIDDEN", err)
	}
	must(w.app.ViewHistory.Handle(w.ctx, commands.ViewHistory{Meta: meta(o.admin), Query: domain.HistorySpaceAccess, TargetID: space,
		AsOf: at, Justification: "Who could read the space yesterday?"}))(t)
	_, access := w.events(domain.AccessStream(o.id))
	var got []domain.HistoryViewed
	for _, e := range access {
		if h, ok := e.(domain.HistoryViewed); ok {
			got = append(got, h)
		}
	}
	if len(got) != 1 || got[0].Query != domain.HistorySpaceAccess || got[0].TargetID != space || !got[0].AsOf.Equal(at.UTC()) ||
		got[0].Viewer != o.admin || got[0].SessionID == "" {
		t.Fatalf("history reads recorded: %+v", got)
	}
}
