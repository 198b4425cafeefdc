-- +goose Up
-- One row per persistent subscription group. stream is the subscribed stream, or '$all'.
-- settings holds the group's settings and start point as JSON. origin is the exclusive
-- cursor the group starts from when it has no checkpoint (a revision for a stream, a
-- position for $all); checkpoint is the cursor up to which every event has been handled.
CREATE TABLE persistent_subscriptions (
    stream     text   NOT NULL,
    group_name text   NOT NULL,
    settings   jsonb  NOT NULL,
    origin     bigint NOT NULL,
    checkpoint bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, group_name)
);
