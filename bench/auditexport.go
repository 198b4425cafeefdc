package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/readmodels"
)

// auditExportScenarios measure the audit export (issue 16 item 3).
func auditExportScenarios() []Scenario {
	return []Scenario{{Name: "audit-export", Issue: 16, Run: benchAuditExport}}
}

// benchAuditExport seeds one organisation's audit log with 1,000,000 entries (50,000 with
// -quick; every fourth with a sealed detail, the rest skeleton only) and exports it whole,
// in each format, to io.Discard through readmodels.ExportAudit, as `arkiv audit export`
// does. The plaintext codec opens the details: this measures the query and the encoders,
// the keyring scenarios measure decryption.
func benchAuditExport(ctx context.Context, env *Env) ([]Result, error) {
	url, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := postgres.Migrate(ctx, url); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	codec := keyring.NewPlainCodec()
	org := uuid.NewString()
	b, err := codec.Encode(ctx, uuid.NewString(), struct {
		AuditDetail domain.Sealed `json:"auditDetail"`
	}{domain.Seal(`{"roleAfter":"SPACE_EDITOR","roleBefore":"SPACE_VIEWER","spaceId":"`+uuid.NewString()+`"}`,
		domain.AuditBucket(org, time.Now()))})
	if err != nil {
		return nil, err
	}
	var w struct {
		AuditDetail string `json:"auditDetail"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	n := env.Size(1_000_000, 50_000)
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at, organization_id,
			space_id, actor_id, action, target_type, target_id, outcome, subject, reason_code, detail)
		SELECT md5(i::text)::uuid::text, i, i, timestamptz '2026-01-01' + i * interval '1 second', $1,
			md5('s' || (i % 50))::uuid::text, md5('u' || (i % 500))::uuid::text,
			CASE i % 4 WHEN 0 THEN 'space.member_role_changed.v1' WHEN 1 THEN 'access.document_viewed.v1'
				WHEN 2 THEN 'conversation.message_sent.v1' ELSE 'access.denied.v1' END,
			'space', md5('s' || (i % 50))::uuid::text, CASE i % 4 WHEN 3 THEN 'denied' ELSE 'ok' END,
			CASE i % 4 WHEN 0 THEN 'user:' || md5('v' || (i % 500))::uuid::text END,
			CASE i % 4 WHEN 3 THEN 'role' END, CASE i % 4 WHEN 0 THEN $2 END
		FROM generate_series(1, $3::bigint) i`, org, w.AuditDetail, n); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE audit_log`); err != nil {
		return nil, err
	}
	reader := readmodels.New(pool, codec)
	var out []Result
	for _, format := range []string{readmodels.ExportJSONL, readmodels.ExportCSV, readmodels.ExportOCSF} {
		t0 := time.Now()
		foot, err := reader.ExportAudit(ctx, io.Discard, org, readmodels.AuditExportOptions{Format: format})
		if err != nil {
			return nil, err
		}
		if foot.Rows != n {
			return nil, domain.Errorf(domain.KindInternal, "bench.audit_export", "exported %d of %d rows", foot.Rows, n)
		}
		rate := float64(n) / time.Since(t0).Seconds()
		out = append(out, Result{Metric: "export " + format + " (" + fmtValue(float64(n)) + " entries)", Value: rate,
			Unit: "rows/s", Target: ">= 50,000 rows/s", Met: Met(rate >= 50_000)})
	}
	return out, nil
}
