-- +goose Up
-- The key store. Key material exists only in keyring_keys.wrapped, wrapped by a KEK version;
-- keyring_tombstones never holds key bytes. Every statement is idempotent: key stores made
-- before the keyring used goose (by the same DDL, run on every open) are adopted as they are.
CREATE TABLE IF NOT EXISTS keyring_meta (
	id              int PRIMARY KEY CHECK (id = 1),
	min_kek_version bigint NOT NULL DEFAULT 0
);
INSERT INTO keyring_meta (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS keyring_keys (
	subject            text PRIMARY KEY,
	dek_version        bigint NOT NULL,
	kek_version        bigint NOT NULL,
	wrapped            bytea NOT NULL,
	created_at         timestamptz NOT NULL,
	state              text NOT NULL CHECK (state IN ('active', 'shredding')),
	shred_requested_at timestamptz,
	destroy_after      timestamptz,
	shred_reason       text,
	shred_requester    text
);
CREATE INDEX IF NOT EXISTS keyring_keys_kek_version ON keyring_keys (kek_version);
CREATE INDEX IF NOT EXISTS keyring_keys_due ON keyring_keys (destroy_after) WHERE state = 'shredding';
CREATE TABLE IF NOT EXISTS keyring_tombstones (
	subject            text PRIMARY KEY,
	key_created_at     timestamptz NOT NULL,
	shred_requested_at timestamptz,
	destroy_after      timestamptz,
	destroyed_at       timestamptz NOT NULL,
	purged_at          timestamptz,
	delete_xid         xid8 NOT NULL,
	reason             text NOT NULL DEFAULT '',
	requester          text NOT NULL DEFAULT ''
);
