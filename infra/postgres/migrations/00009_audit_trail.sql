-- +goose Up
-- The audit trail's detail (issue 16): audit_log rows name the data subject an entry is
-- about and a denial's reason code (both part of the pseudonymous skeleton, readable
-- forever), and keep the envelope of the entry's sealed detail, copied from the event's
-- metadata and opened at query time. Audit retention destroys the detail's audit-log bucket
-- key; the row stays.
ALTER TABLE audit_log ADD COLUMN subject text, ADD COLUMN reason_code text, ADD COLUMN detail text;
CREATE INDEX audit_log_subject ON audit_log (organization_id, subject) WHERE subject IS NOT NULL;

-- Audit retention (issue 16 item 4): the retention manager also tracks audit-log buckets,
-- and an organisation may cap how long model payloads are kept (0: the audit retention).
ALTER TABLE pm_retention_buckets DROP CONSTRAINT pm_retention_buckets_kind_check;
ALTER TABLE pm_retention_buckets ADD CONSTRAINT pm_retention_buckets_kind_check
    CHECK (kind IN ('retention', 'modellog', 'auditlog'));
ALTER TABLE pm_retention_orgs ADD COLUMN model_payload_cap_days integer NOT NULL DEFAULT 0;

-- Assistants have an owner: who created each and who changed it last (pseudonymous ids).
ALTER TABLE assistants ADD COLUMN created_by text NOT NULL DEFAULT '', ADD COLUMN updated_by text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE assistants DROP COLUMN created_by, DROP COLUMN updated_by;
ALTER TABLE pm_retention_orgs DROP COLUMN model_payload_cap_days;
DELETE FROM pm_retention_buckets WHERE kind = 'auditlog';
ALTER TABLE pm_retention_buckets DROP CONSTRAINT pm_retention_buckets_kind_check;
ALTER TABLE pm_retention_buckets ADD CONSTRAINT pm_retention_buckets_kind_check
    CHECK (kind IN ('retention', 'modellog'));
DROP INDEX audit_log_subject;
ALTER TABLE audit_log DROP COLUMN subject, DROP COLUMN reason_code, DROP COLUMN detail;
