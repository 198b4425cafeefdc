-- +goose Up
-- Exports built in the background (audit exports of any size): the job's state and the file
-- itself in chunks, in Postgres so that any API replica answers the job's state and serves
-- its download, and a restart does not lose a finished file. Files expire after an hour.
CREATE TABLE export_files (
	id              uuid PRIMARY KEY,
	organization_id text NOT NULL,
	requester_id    text NOT NULL,
	kind            text NOT NULL,
	format          text NOT NULL,
	file_name       text NOT NULL,
	content_type    text NOT NULL,
	status          text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
	rows            bigint NOT NULL DEFAULT 0,
	total_rows      bigint NOT NULL DEFAULT 0,
	size            bigint NOT NULL DEFAULT 0,
	sha256          text,
	footer          json,
	error           text,
	created_at      timestamptz NOT NULL,
	heartbeat_at    timestamptz NOT NULL,
	finished_at     timestamptz,
	expires_at      timestamptz NOT NULL
);
CREATE INDEX export_files_expires ON export_files (expires_at);
CREATE TABLE export_file_chunks (
	export_id uuid NOT NULL REFERENCES export_files (id) ON DELETE CASCADE,
	seq       integer NOT NULL,
	data      bytea NOT NULL,
	PRIMARY KEY (export_id, seq)
);

-- +goose Down
DROP TABLE export_file_chunks;
DROP TABLE export_files;
