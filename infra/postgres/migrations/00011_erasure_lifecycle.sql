-- +goose Up
-- Every delete is an erasure, with a certificate, and legal holds (issue 18 items 1-3).

-- What each projection purged for an erasure order, for the certificate: rows deleted or
-- blanked in its tables (pg_stat_xact_user_tables around the erase), and for the search
-- index the Weaviate objects and tenants deleted.
ALTER TABLE readmodel_erasures ADD COLUMN purged_rows bigint NOT NULL DEFAULT 0,
    ADD COLUMN purged_objects bigint NOT NULL DEFAULT 0, ADD COLUMN purged_tenants integer NOT NULL DEFAULT 0;
ALTER TABLE auth_erasures ADD COLUMN purged_rows bigint NOT NULL DEFAULT 0,
    ADD COLUMN purged_objects bigint NOT NULL DEFAULT 0, ADD COLUMN purged_tenants integer NOT NULL DEFAULT 0;
ALTER TABLE search_erasures ADD COLUMN purged_rows bigint NOT NULL DEFAULT 0,
    ADD COLUMN purged_objects bigint NOT NULL DEFAULT 0, ADD COLUMN purged_tenants integer NOT NULL DEFAULT 0;

-- Projection "readmodel.erasures": every erasure order with its basis, state and
-- certificate (deletedItems, erasureCertificate), and every legal hold (legalHolds).
CREATE TABLE erasure_items (
    erasure_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    space_id        text,
    origin          text NOT NULL DEFAULT '',
    legal_basis     text NOT NULL DEFAULT '',
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    effective_at    timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('PENDING', 'RESTORED', 'COMPLETED')),
    restored_by     text,
    restored_at     timestamptz,
    completed_at    timestamptz,
    certificate     text,
    signed          boolean NOT NULL DEFAULT false,
    certified_at    timestamptz,
    position        bigint NOT NULL
);
CREATE INDEX erasure_items_org ON erasure_items (organization_id, state, requested_at DESC);
CREATE INDEX erasure_items_space ON erasure_items (space_id, state) WHERE space_id IS NOT NULL;

CREATE TABLE legal_holds (
    hold_id         text PRIMARY KEY,
    organization_id text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    space_id        text,
    reason          text NOT NULL,
    placed_by       text NOT NULL,
    placed_at       timestamptz NOT NULL,
    lifted_by       text,
    lifted_at       timestamptz,
    lift_reason     text
);
CREATE INDEX legal_holds_org ON legal_holds (organization_id, placed_at DESC);

-- The erasure manager certifies completed erasures once.
ALTER TABLE pm_erasures ADD COLUMN certified_at timestamptz;
CREATE INDEX pm_erasures_uncertified ON pm_erasures (updated_at) WHERE state = 'COMPLETED' AND certified_at IS NULL;

-- The erasure manager keeps the active legal holds: a hold placed during an erasure's grace
-- window keeps its keys shredding (not destroyed) until it is lifted.
CREATE TABLE pm_erasure_holds (
    hold_id         text PRIMARY KEY,
    organization_id text NOT NULL,
    subject         text NOT NULL,
    space_id        text
);
CREATE INDEX pm_erasure_holds_org ON pm_erasure_holds (organization_id);
-- A conversation's owner: a hold on a user covers their conversations.
ALTER TABLE pm_subjects ADD COLUMN owner_id text;

-- The retention manager refuses to destroy buckets under legal hold: the active holds, the
-- assistants' spaces and which conversations and users each bucket holds data of.
CREATE TABLE pm_retention_holds (
    hold_id         text PRIMARY KEY,
    organization_id text NOT NULL,
    subject         text NOT NULL
);
CREATE INDEX pm_retention_holds_subject ON pm_retention_holds (subject);
ALTER TABLE pm_retention_assistants ADD COLUMN space_id text;
CREATE TABLE pm_retention_links (
    bucket  text NOT NULL,
    subject text NOT NULL,
    PRIMARY KEY (bucket, subject)
);

-- +goose Down
ALTER TABLE pm_subjects DROP COLUMN owner_id;
DROP TABLE pm_erasure_holds;
DROP TABLE pm_retention_links;
ALTER TABLE pm_retention_assistants DROP COLUMN space_id;
DROP TABLE pm_retention_holds;
DROP INDEX pm_erasures_uncertified;
ALTER TABLE pm_erasures DROP COLUMN certified_at;
DROP TABLE legal_holds;
DROP TABLE erasure_items;
ALTER TABLE search_erasures DROP COLUMN purged_rows, DROP COLUMN purged_objects, DROP COLUMN purged_tenants;
ALTER TABLE auth_erasures DROP COLUMN purged_rows, DROP COLUMN purged_objects, DROP COLUMN purged_tenants;
ALTER TABLE readmodel_erasures DROP COLUMN purged_rows, DROP COLUMN purged_objects, DROP COLUMN purged_tenants;
