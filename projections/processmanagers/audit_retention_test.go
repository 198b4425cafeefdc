package processmanagers_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// auditDetails returns, for every event of stream that has an audit detail, the detail's
// plaintext ("" when shredded) by event id, and the day its audit-log bucket holds.
func (w *world) auditDetails(stream string) map[string]string {
	w.t.Helper()
	recs, _, err := w.env.Store.Load(w.ctx, stream)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		var md domain.Metadata
		if err := json.Unmarshal(r.Metadata, &md); err != nil {
			w.t.Fatal(err)
		}
		if md.AuditDetail == "" {
			continue
		}
		plain, redacted, err := w.codec.OpenField(w.ctx, r.EventID, domain.AuditDetailPath, md.AuditDetail)
		if domain.Is(domain.KindErased, err) {
			redacted, err = true, nil
		}
		if err != nil {
			w.t.Fatalf("open the audit detail of %s: %v", r.Type, err)
		}
		if redacted {
			plain = ""
		}
		out[r.EventID] = plain
	}
	return out
}

// sweepUntilIdle sweeps until nothing is left to destroy.
func (w *world) sweepUntilIdle(m *manager) {
	w.t.Helper()
	w.eventually("a sweep finds nothing left to destroy", func() bool {
		n, err := m.SweepRetention(w.ctx)
		return err == nil && n == 0
	})
}

// TestAuditRetentionShredsDetailAndKeepsTheSkeleton runs audit retention on the fake clock:
// at day 31 a 90-day retention keeps everything; at day 91 the detail of day 0 is shredded
// and that of day 31 kept; shortening the retention to 30 days shreds day 31 at once. The
// skeleton (the events and their metadata) stays, and every stream's hash chain verifies.
func TestAuditRetentionShredsDetailAndKeepsTheSkeleton(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap() // day 0, the default 90-day audit retention
	user := w.user(o)
	must(w.app.ChangeUserRole.Handle(w.ctx, commands.ChangeUserRole{Meta: meta(o.admin), UserID: user, Role: domain.OrgRoleCreator}))(t)
	day0 := w.auditDetails(domain.StreamPrefixUser + user)
	if len(day0) == 0 {
		t.Fatal("the user's events carry no audit detail")
	}
	for _, d := range day0 {
		if d == "" {
			t.Fatal("a fresh audit detail is unreadable")
		}
	}
	var roleChange map[string]string
	for _, d := range day0 {
		var m map[string]string
		_ = json.Unmarshal([]byte(d), &m)
		if m["roleBefore"] != "" {
			roleChange = m
		}
	}
	if roleChange["roleBefore"] != string(domain.OrgRoleUser) || roleChange["roleAfter"] != string(domain.OrgRoleCreator) {
		t.Fatalf("role change detail = %v, want USER → CREATOR", roleChange)
	}

	w.clock.Advance(31 * 24 * time.Hour)
	m := w.start()
	w.sweepUntilIdle(m)
	for id, d := range w.auditDetails(domain.StreamPrefixUser + user) {
		if d == "" {
			t.Fatalf("day 31, 90-day retention: detail of %s shredded", id)
		}
	}
	// Day 31: another entry.
	must(w.app.ChangeUserRole.Handle(w.ctx, commands.ChangeUserRole{Meta: meta(o.admin), UserID: user, Role: domain.OrgRoleUser}))(t)

	w.clock.Advance(60 * 24 * time.Hour) // day 91
	w.sweepUntilIdle(m)
	kept := 0
	for id, d := range w.auditDetails(domain.StreamPrefixUser + user) {
		_, old := day0[id]
		switch {
		case old && d != "":
			t.Fatalf("day 91: the day-0 detail of %s is still readable", id)
		case !old && d == "":
			t.Fatalf("day 91: the day-31 detail of %s was shredded", id)
		case !old:
			kept++
		}
	}
	if kept != 1 {
		t.Fatalf("%d day-31 details readable, want 1", kept)
	}

	// Shortening the retention applies at once to the entries already there.
	s := w.settings(o)
	s.AuditRetention = domain.AuditRetention{Mode: domain.AuditRetention30, Days: 30}
	must(w.app.ChangeOrganizationSettings.Handle(w.ctx, commands.ChangeOrganizationSettings{Meta: meta(o.admin), Settings: s}))(t)
	w.eventually("the day-31 detail is shredded after the change", func() bool {
		for _, d := range w.auditDetails(domain.StreamPrefixUser + user) {
			if d != "" {
				return false
			}
		}
		return true
	})

	// The skeleton stays: the events are all there and every chain verifies.
	for _, stream := range []string{domain.StreamPrefixUser + user, domain.StreamPrefixOrganization + o.id,
		domain.StreamPrefixRetention + o.id} {
		if _, n, err := w.app.VerifyStream(w.ctx, stream); err != nil || n == 0 {
			t.Fatalf("verify %s: %d events, %v", stream, n, err)
		}
	}
	if n := len(w.events(domain.StreamPrefixUser + user)); n != 3 {
		t.Fatalf("%d user events, want 3", n)
	}
	w.eventually("both audit-log bucket destructions are recorded", func() bool {
		audit := 0
		for _, e := range w.events(domain.StreamPrefixRetention + o.id) {
			if d := e.(domain.RetentionBucketDestroyed); d.BucketKind == domain.SubjectAuditLog {
				audit++
			}
		}
		return audit >= 2
	})
}

// settings returns the organisation's current settings.
func (w *world) settings(o org) domain.OrganizationSettings {
	w.t.Helper()
	var s domain.OrganizationSettings
	for _, e := range w.events(domain.StreamPrefixOrganization + o.id) {
		switch e := e.(type) {
		case domain.OrganizationCreated:
			s = e.Settings
		case domain.OrganizationSettingsChanged:
			s = e.Settings
		}
	}
	return s
}
