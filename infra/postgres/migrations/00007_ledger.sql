-- +goose Up
-- Projection "ledger": the RFC 6962 Merkle tree over every event of the log in $all order
-- (package projections/ledger). ledger_leaves holds one row per leaf: what the leaf commits
-- to (so `arkiv audit verify` can name a tampered event), its hash, and in nodes the hashes
-- of the interior nodes that this leaf completes, lowest level first (leaf i completes
-- node (level l, index (i+1)/2^l - 1) for every 2^l dividing i+1), so inclusion proofs read
-- log2(n) rows. ledger_tree holds the tree's size and border, ledger_checkpoints the signed
-- checkpoints found in the log.
CREATE TABLE ledger_leaves (
    idx          bigint PRIMARY KEY,
    event_id     uuid   NOT NULL UNIQUE,
    stream       text   NOT NULL,
    revision     bigint NOT NULL,
    event_type   text   NOT NULL,
    created      bigint NOT NULL,
    position     bigint NOT NULL,
    data_sha256  bytea  NOT NULL,
    meta_sha256  bytea  NOT NULL,
    leaf_hash    bytea  NOT NULL,
    nodes        bytea  NOT NULL
);
CREATE TABLE ledger_tree (
    id           integer PRIMARY KEY CHECK (id = 1),
    size         bigint  NOT NULL,
    content_size bigint  NOT NULL,
    root         bytea   NOT NULL,
    border       bytea   NOT NULL
);
CREATE TABLE ledger_checkpoints (
    size      bigint PRIMARY KEY,
    root      bytea  NOT NULL,
    note      text   NOT NULL,
    key_hash  text   NOT NULL,
    event_id  uuid   NOT NULL,
    position  bigint NOT NULL,
    signed_at timestamptz NOT NULL
);
-- Not a projection table: `arkiv serve` records each verification run here.
CREATE TABLE ledger_verifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finished_at  timestamptz NOT NULL,
    leaves       bigint  NOT NULL,
    checkpoint   bigint,
    ok           boolean NOT NULL,
    failure      jsonb
);

-- +goose Down
DROP TABLE ledger_verifications;
DROP TABLE ledger_checkpoints;
DROP TABLE ledger_tree;
DROP TABLE ledger_leaves;
