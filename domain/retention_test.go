package domain

import "testing"

func TestRetention(t *testing.T) {
	bucket := RetentionBucket(ast1, day)
	logBucket := ModelLogBucket(org1, day)
	destroyed := RetentionBucketDestroyed{OrganizationID: org1, OwnerID: ast1, BucketKind: SubjectRetention,
		Bucket: bucket.String(), Day: "2026-03-03", RetentionDays: 30, DestroyedBy: SystemActor, DestroyedAt: day}
	destroy := func(org string, b Subject, days int) func(Aggregate) error {
		return func(a Aggregate) error { return a.(*Retention).DestroyBucket(org, b, days, SystemActor, day) }
	}
	run(t, func() Aggregate { return NewRetention(ast1) }, []scenario{
		{name: "first destruction", when: destroy(org1, bucket, 30), then: []Event{destroyed}},
		{name: "recorded once", given: []Event{destroyed}, when: destroy(org1, bucket, 30)},
		{name: "another organisation", given: []Event{destroyed}, when: destroy(user1, RetentionBucket(ast1, day.AddDate(0, 0, 1)), 30), fails: "INVALID"},
		{name: "not a bucket", when: destroy(org1, UserSubject(user1), 30), fails: "INVALID"},
		{name: "another owner's bucket", when: destroy(org1, RetentionBucket(user2, day), 30), fails: "INVALID"},
		{name: "retention out of range", when: destroy(org1, bucket, 0), fails: "INVALID"},
	})
	run(t, func() Aggregate { return NewRetention(org1) }, []scenario{
		{name: "model-log bucket", when: destroy(org1, logBucket, 90), then: []Event{RetentionBucketDestroyed{OrganizationID: org1,
			OwnerID: org1, BucketKind: SubjectModelLog, Bucket: logBucket.String(), Day: "2026-03-03", RetentionDays: 90,
			DestroyedBy: SystemActor, DestroyedAt: day}}},
	})
	r := NewRetention(ast1)
	Replay(r, []Event{destroyed}, 0)
	if !r.Destroyed(bucket) || r.Destroyed(RetentionBucket(ast1, day.AddDate(0, 0, 1))) || r.OrganizationID() != org1 {
		t.Fatal("replayed retention log does not know what it destroyed")
	}
}

func TestSystemAllowed(t *testing.T) {
	for _, cmd := range append(Commands(), CmdRecordRetentionDestruction) {
		want := cmd == CmdCompleteErasure || cmd == CmdRecordRetentionDestruction || cmd == CmdExportAuditLog || cmd == CmdViewHistory || cmd == CmdExportEvidence ||
			cmd == CmdExportSubjectData || cmd == CmdExportOrganization || cmd == CmdRecordEmbedding
		if got := SystemAllowed(cmd); got != want {
			t.Errorf("SystemAllowed(%s) = %v, want %v", cmd, got, want)
		}
	}
	for _, role := range OrgRoles() {
		for _, space := range SpaceRoles() {
			if Allowed(CmdRecordRetentionDestruction, role, space) {
				t.Errorf("%s/%s may record retention destructions; only the system actor may", role, space)
			}
		}
	}
	if ValidateID("actor id", SystemActor) == nil {
		t.Fatal("the system actor id must not be a UUID that a user could have")
	}
}
