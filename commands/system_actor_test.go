package commands_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestSystemActorRunsOnlyWhatItMay runs every command of the RBAC matrix as the system
// actor: only CompleteErasure (and the operator's reads: ExportAuditLog, ViewHistory, ExportEvidence,
// ExportSubjectData, ExportOrganization) is accepted; every
// other one is refused as FORBIDDEN and appends nothing.
func TestSystemActorRunsOnlyWhatItMay(t *testing.T) {
	w := newWorld(t, true)
	o := w.bootstrap("Org S", "admin@s.example")
	f := w.newFixture(o, domain.OrgRoleAdmin, domain.SpaceRoleAdmin)
	for _, c := range matrixCases() {
		m := meta(domain.SystemActor)
		err := c.run(w, f, m)
		if c.cmd == domain.CmdCompleteErasure {
			if err != nil {
				t.Fatalf("system actor: CompleteErasure failed: %v (%s)", err, domain.KindOf(err))
			}
			continue
		}
		if c.cmd == domain.CmdExportAuditLog || c.cmd == domain.CmdViewHistory || c.cmd == domain.CmdExportEvidence ||
			c.cmd == domain.CmdExportSubjectData || c.cmd == domain.CmdExportOrganization {
			// Allowed (the operator's arkiv audit export, audit as-of, evidence, subject and
			// organisation exports); without
			// an organisation id it finds none.
			if !domain.Is(domain.KindNotFound, err) {
				t.Errorf("system actor: %s without an organisation: want NOT_FOUND, got %v (%s)", c.cmd, err, domain.KindOf(err))
			}
			continue
		}
		if !domain.Is(domain.KindForbidden, err) {
			t.Errorf("system actor: %s: want FORBIDDEN, got %v (%s)", c.cmd, err, domain.KindOf(err))
		}
	}
	recs, evs := w.events(domain.StreamPrefixErasure + f.toComplete)
	last, ok := evs[len(evs)-1].(domain.ErasureCompleted)
	if !ok || last.CompletedBy != domain.SystemActor {
		t.Fatalf("last erasure event %#v, want erasure.completed by the system actor", evs[len(evs)-1])
	}
	var md domain.Metadata
	if err := json.Unmarshal(recs[len(recs)-1].Metadata, &md); err != nil || md.Actor != domain.SystemActor || md.Organization != o.id {
		t.Fatalf("metadata %+v (%v), want actor system in organisation %s", md, err, o.id)
	}
}

// TestRecordRetentionDestruction records destroyed buckets as the system actor, once even
// when the command or a later sweep repeats them, and refuses every user.
func TestRecordRetentionDestruction(t *testing.T) {
	w := newWorld(t, false)
	o := w.bootstrap("Org R", "admin@r.example")
	_, assistant := w.space(o)
	day := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	b1, b2 := domain.RetentionBucket(assistant, day), domain.RetentionBucket(assistant, day.AddDate(0, 0, 1))
	cmd := commands.RecordRetentionDestruction{Meta: meta(domain.SystemActor), OrganizationID: o.id, OwnerID: assistant,
		Buckets: []commands.DestroyedBucket{{Bucket: b1, RetentionDays: 30}}}
	must(w.app.RecordRetentionDestruction.Handle(w.ctx, cmd))(t)
	must(w.app.RecordRetentionDestruction.Handle(w.ctx, cmd))(t) // a retry
	cmd.Meta = meta(domain.SystemActor)
	cmd.Buckets = append(cmd.Buckets, commands.DestroyedBucket{Bucket: b2, RetentionDays: 30})
	must(w.app.RecordRetentionDestruction.Handle(w.ctx, cmd))(t) // a later sweep
	_, evs := w.events(domain.StreamPrefixRetention + assistant)
	if len(evs) != 2 {
		t.Fatalf("%d events, want one per bucket: %#v", len(evs), evs)
	}
	for i, b := range []domain.Subject{b1, b2} {
		e := evs[i].(domain.RetentionBucketDestroyed)
		if e.Bucket != b.String() || e.OrganizationID != o.id || e.DestroyedBy != domain.SystemActor || e.RetentionDays != 30 {
			t.Fatalf("event %d: %#v", i, e)
		}
	}

	m := meta(o.admin)
	_, err := w.app.RecordRetentionDestruction.Handle(w.ctx, commands.RecordRetentionDestruction{Meta: m, OrganizationID: o.id,
		OwnerID: assistant, Buckets: []commands.DestroyedBucket{{Bucket: domain.RetentionBucket(assistant, day.AddDate(0, 0, 2)), RetentionDays: 30}}})
	w.expectDenied(domain.CmdRecordRetentionDestruction, o.id, o.admin, m, err, domain.ReasonRole)

	other := w.bootstrap("Org Q", "admin@q.example")
	_, err = w.app.RecordRetentionDestruction.Handle(w.ctx, commands.RecordRetentionDestruction{Meta: meta(domain.SystemActor),
		OrganizationID: other.id, OwnerID: assistant, Buckets: []commands.DestroyedBucket{{Bucket: domain.RetentionBucket(assistant, day.AddDate(0, 0, 3)), RetentionDays: 30}}})
	if !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("recording into another organisation's retention log: %v (%s), want INVALID", err, domain.KindOf(err))
	}
}
