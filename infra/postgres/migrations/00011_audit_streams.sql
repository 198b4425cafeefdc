-- +goose Up
-- Projection "readmodel.audit_streams": the SIEM destinations of each organisation's audit
-- log (auditstream.configured.v1 / auditstream.removed.v1). secret is the webhook signing
-- secret as a SealedRef (ciphertext copied from the event, opened at delivery time).
CREATE TABLE audit_streams (
    stream_id        text PRIMARY KEY,
    organization_id  text NOT NULL,
    kind             text NOT NULL,
    format           text NOT NULL,
    endpoint         text NOT NULL,
    include_detail   boolean NOT NULL,
    ca_certificate   text NOT NULL DEFAULT '',
    secret           jsonb,
    configured_at    timestamptz NOT NULL,
    configured_by    text NOT NULL,
    created_position bigint NOT NULL,
    removed_at       timestamptz
);
CREATE INDEX audit_streams_organization ON audit_streams (organization_id);

-- Not a projection table: each destination's delivery checkpoint (the $all position of the
-- last audit entry it acknowledged, every earlier one delivered too) and health, written
-- by the forwarder. A destination without a row starts at the log position of its
-- creation.
CREATE TABLE audit_stream_state (
    stream_id         text PRIMARY KEY,
    commit_position   bigint NOT NULL,
    prepare_position  bigint NOT NULL,
    delivered         bigint NOT NULL DEFAULT 0,
    poisoned          bigint NOT NULL DEFAULT 0,
    last_error        text,
    last_error_at     timestamptz,
    last_delivered_at timestamptz,
    updated_at        timestamptz NOT NULL
);

-- Not a projection table: the poison queue, records a destination refused for good (a
-- webhook's 4xx answer); the delivery checkpoint moves past them.
CREATE TABLE audit_stream_poison (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id  text NOT NULL,
    event_id   text NOT NULL,
    error      text NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX audit_stream_poison_stream ON audit_stream_poison (stream_id, id);

-- +goose Down
DROP TABLE audit_stream_poison;
DROP TABLE audit_stream_state;
DROP TABLE audit_streams;
