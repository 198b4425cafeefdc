package domain

import (
	"testing"
	"time"
)

func TestAuditFactsOf(t *testing.T) {
	org, user := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-0000000000a1"
	for _, c := range []struct {
		e       Event
		subject string
		detail  map[string]string
	}{
		{SpaceMemberRoleChanged{SpaceID: org, UserID: user, Role: SpaceRoleEditor, PreviousRole: SpaceRoleViewer}, "user:" + user,
			map[string]string{"spaceId": org, "roleBefore": "SPACE_VIEWER", "roleAfter": "SPACE_EDITOR"}},
		{UserRoleChanged{UserID: user, Role: OrgRoleAdmin, PreviousRole: OrgRoleUser}, "user:" + user,
			map[string]string{"roleBefore": "USER", "roleAfter": "ADMIN"}},
		{AccessDenied{Command: CmdCreateSpace, Reason: ReasonRole, OrgRole: OrgRoleUser}, "",
			map[string]string{"command": "CreateSpace", "reasonCode": "role", "orgRole": "USER"}},
		{ErasureRequested{SubjectType: SubjectUser, SubjectID: user, GraceDays: 14, EffectiveAt: time.Date(2026, 3, 17, 0, 0, 0, 0, time.UTC)},
			"user:" + user, map[string]string{"graceDays": "14", "effectiveAt": "2026-03-17T00:00:00Z"}},
		{DocumentDeleted{}, "", nil},
	} {
		f := AuditFactsOf(c.e)
		if f.Subject.String() != c.subject && !(c.subject == "" && f.Subject.Kind == "") {
			t.Errorf("%s: subject %v, want %s", c.e.EventName(), f.Subject, c.subject)
		}
		if len(f.Detail) != len(c.detail) {
			t.Errorf("%s: detail %v, want %v", c.e.EventName(), f.Detail, c.detail)
		}
		for k, v := range c.detail {
			if f.Detail[k] != v {
				t.Errorf("%s: detail[%s] = %q, want %q", c.e.EventName(), k, f.Detail[k], v)
			}
		}
	}
	at := time.Date(2026, 3, 3, 23, 59, 0, 0, time.UTC)
	s := SealAuditDetail(org, at, AuditFactsOf(UserRoleChanged{UserID: user, Role: OrgRoleAdmin}))
	if len(s.Subjects) != 2 || s.Subjects[0] != AuditBucket(org, at) || s.Subjects[0].ID != org+"/2026-03-03" || s.Subjects[1] != UserSubject(user) {
		t.Fatalf("sealed under %v", s.Subjects)
	}
	if err := s.Subjects[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDiffSettings(t *testing.T) {
	a := DefaultOrganizationSettings()
	b := a
	b.AuditRetention = AuditRetention{Mode: AuditRetention30, Days: 30}
	b.ModelPayloadRetentionDays = 7
	got := DiffSettings(a, b)
	want := []SettingChange{{"auditRetention.days", "90", "30"}, {"auditRetention.mode", `"90_DAYS"`, `"30_DAYS"`},
		{"modelPayloadRetentionDays", "", "7"}}
	if len(got) != len(want) {
		t.Fatalf("diff %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("diff %v, want %v", got, want)
		}
	}
	if d := DiffSettings(a, a); len(d) != 0 {
		t.Fatalf("no change, diff %v", d)
	}
}
