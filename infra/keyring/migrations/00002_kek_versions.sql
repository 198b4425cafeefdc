-- +goose Up
-- When each KEK version came into use and when the re-wrap of every live key under it
-- finished: the key-management record that the DPIA evidence bundle reports. No key material.
CREATE TABLE IF NOT EXISTS keyring_kek_versions (
	version               bigint PRIMARY KEY,
	in_use_since          timestamptz NOT NULL,
	rotation_started_at   timestamptz,
	rotation_completed_at timestamptz,
	keys_rewrapped        bigint NOT NULL DEFAULT 0
);
-- A key store made before this table: its keys' KEK versions, first used no later than the
-- oldest key still wrapped under each.
INSERT INTO keyring_kek_versions (version, in_use_since)
	SELECT kek_version, min(created_at) FROM keyring_keys GROUP BY kek_version
	ON CONFLICT DO NOTHING;

-- +goose Down
DROP TABLE IF EXISTS keyring_kek_versions;
