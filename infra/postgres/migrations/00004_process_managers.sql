-- +goose Up
-- State of the process managers (projections/processmanagers). Each table is written only by
-- its manager's event handler, in the same transaction as the manager's checkpoint.

-- pm_subjects indexes the data subjects seen in the log by organisation and space, so that
-- erasing a space or an organisation finds every subject that must go dark with it.
CREATE TABLE pm_subjects (
    subject         text PRIMARY KEY,
    kind            text NOT NULL,
    organization_id text NOT NULL,
    space_id        text
);
CREATE INDEX pm_subjects_organization ON pm_subjects (organization_id, kind);
CREATE INDEX pm_subjects_space ON pm_subjects (space_id, kind) WHERE space_id IS NOT NULL;

-- pm_erasures holds every erasure order and where it stands. restore_error is set when the
-- keyring refused to restore a subject of a restored erasure.
CREATE TABLE pm_erasures (
    erasure_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    grace_days      integer NOT NULL,
    requested_by    text NOT NULL,
    effective_at    timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('PENDING', 'RESTORED', 'COMPLETED')),
    restore_error   text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL
);
CREATE INDEX pm_erasures_due ON pm_erasures (effective_at) WHERE state = 'PENDING';

-- pm_erasure_targets lists the keyring subjects each erasure shreds.
CREATE TABLE pm_erasure_targets (
    erasure_id text NOT NULL REFERENCES pm_erasures ON DELETE CASCADE,
    subject    text NOT NULL,
    PRIMARY KEY (erasure_id, subject)
);
CREATE INDEX pm_erasure_targets_subject ON pm_erasure_targets (subject);

-- pm_retention_orgs holds each organisation's retention periods in days.
CREATE TABLE pm_retention_orgs (
    organization_id          text PRIMARY KEY,
    message_retention_days   integer NOT NULL,
    model_log_retention_days integer NOT NULL
);

-- pm_retention_assistants holds each assistant's message retention (0 inherits the
-- organisation's default).
CREATE TABLE pm_retention_assistants (
    assistant_id    text PRIMARY KEY,
    organization_id text NOT NULL,
    retention_days  integer NOT NULL
);

-- pm_retention_buckets lists the retention and model-log buckets in use and when each was
-- destroyed.
CREATE TABLE pm_retention_buckets (
    subject         text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('retention', 'modellog')),
    owner_id        text NOT NULL,
    organization_id text NOT NULL,
    day             date NOT NULL,
    destroyed_at    timestamptz
);
CREATE INDEX pm_retention_buckets_live ON pm_retention_buckets (day) WHERE destroyed_at IS NULL;

-- +goose Down
DROP TABLE pm_retention_buckets;
DROP TABLE pm_retention_assistants;
DROP TABLE pm_retention_orgs;
DROP TABLE pm_erasure_targets;
DROP TABLE pm_erasures;
DROP TABLE pm_subjects;
