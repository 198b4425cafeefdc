-- +goose Up
-- The audit trail's detail (issue 16): audit_log rows name the data subject an entry is
-- about and a denial's reason code (both part of the pseudonymous skeleton, readable
-- forever), and keep the envelope of the entry's sealed detail, copied from the event's
-- metadata and opened at query time. Audit retention destroys the detail's audit-log bucket
-- key; the row stays.
ALTER TABLE audit_log ADD COLUMN subject text, ADD COLUMN reason_code text, ADD COLUMN detail text;
CREATE INDEX audit_log_subject ON audit_log (organization_id, subject) WHERE subject IS NOT NULL;

-- +goose Down
DROP INDEX audit_log_subject;
ALTER TABLE audit_log DROP COLUMN subject, DROP COLUMN reason_code, DROP COLUMN detail;
