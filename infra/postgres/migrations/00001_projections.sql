-- +goose Up
-- projection_checkpoints holds, per projection, the $all position of the last event whose
-- effects are committed. It is written in the same transaction as the projection's rows.
CREATE TABLE projection_checkpoints (
    name             text PRIMARY KEY,
    commit_position  bigint NOT NULL,
    prepare_position bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- projection_status reports each projection's state: running, failed (stopped on a poison
-- event, which is named here) or rebuilding.
CREATE TABLE projection_status (
    name                    text PRIMARY KEY,
    state                   text NOT NULL CHECK (state IN ('running', 'failed', 'rebuilding', 'stopped')),
    error                   text NOT NULL DEFAULT '',
    failed_event_id         uuid,
    failed_event_type       text,
    failed_commit_position  bigint,
    failed_prepare_position bigint,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE projection_status;
DROP TABLE projection_checkpoints;
