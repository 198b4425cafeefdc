-- +goose Up
-- The event log and the state of each stream. The statements are idempotent: databases
-- created before the event store used migrations already hold these tables.
CREATE TABLE IF NOT EXISTS events (
    pos          bigint PRIMARY KEY,
    stream       text   NOT NULL,
    revision     bigint NOT NULL,
    event_id     uuid   NOT NULL,
    event_type   text   NOT NULL,
    content_type text   NOT NULL,
    created      bigint NOT NULL,
    data         bytea  NOT NULL,
    metadata     bytea  NOT NULL,
    UNIQUE (stream, revision)
);

CREATE TABLE IF NOT EXISTS streams (
    name          text    PRIMARY KEY,
    last_revision bigint  NOT NULL,
    deleted       boolean NOT NULL DEFAULT false,
    tombstoned    boolean NOT NULL DEFAULT false
);
