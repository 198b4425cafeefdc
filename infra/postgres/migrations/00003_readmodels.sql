-- +goose Up
-- Read models (projections/readmodel, queried by readmodels/). Every sealed field is kept as
-- it was in the event: a jsonb {"eventId", "path", "envelope"} holding the ciphertext envelope
-- ("ak1...") and what binds it, decrypted at query time. position columns are the $all commit
-- position of the event that created the row; they order lists and pages.

-- Projection "readmodel".
CREATE TABLE organizations (
    organization_id text PRIMARY KEY,
    name            jsonb,
    settings        jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    position        bigint NOT NULL
);

CREATE TABLE users (
    user_id         text PRIMARY KEY,
    organization_id text NOT NULL,
    email           jsonb,
    name            jsonb,
    role            text NOT NULL,
    active          boolean NOT NULL,
    erased          boolean NOT NULL DEFAULT false,
    registered_at   timestamptz NOT NULL,
    position        bigint NOT NULL
);
CREATE INDEX users_organization ON users (organization_id, position);

CREATE TABLE spaces (
    space_id        text PRIMARY KEY,
    organization_id text NOT NULL,
    name            jsonb,
    classification  text NOT NULL,
    created_by      text NOT NULL,
    models          text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    position        bigint NOT NULL
);
CREATE INDEX spaces_organization ON spaces (organization_id, position);

CREATE TABLE space_members (
    space_id        text NOT NULL,
    user_id         text NOT NULL,
    organization_id text NOT NULL,
    role            text NOT NULL,
    added_at        timestamptz NOT NULL,
    PRIMARY KEY (space_id, user_id)
);
CREATE INDEX space_members_user ON space_members (user_id);

CREATE TABLE assistants (
    assistant_id       text PRIMARY KEY,
    organization_id    text NOT NULL,
    space_id           text NOT NULL,
    name               jsonb,
    instructions       jsonb,
    model              text NOT NULL,
    retention_days     integer NOT NULL,
    log_model_payloads boolean NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    position           bigint NOT NULL
);
CREATE INDEX assistants_space ON assistants (space_id, position);

CREATE TABLE documents (
    document_id     text PRIMARY KEY,
    organization_id text NOT NULL,
    space_id        text NOT NULL,
    title           jsonb,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    chunk_count     integer NOT NULL,
    ingested_by     text NOT NULL,
    ingested_at     timestamptz NOT NULL,
    position        bigint NOT NULL
);
CREATE INDEX documents_space ON documents (space_id, position);

CREATE TABLE document_chunks (
    document_id text NOT NULL,
    chunk_index integer NOT NULL,
    text        jsonb NOT NULL,
    PRIMARY KEY (document_id, chunk_index)
);

CREATE TABLE conversations (
    conversation_id text PRIMARY KEY,
    organization_id text NOT NULL,
    space_id        text NOT NULL,
    assistant_id    text NOT NULL,
    started_by      text NOT NULL,
    started_at      timestamptz NOT NULL,
    position        bigint NOT NULL
);
CREATE INDEX conversations_space ON conversations (space_id);
CREATE INDEX conversations_owner ON conversations (started_by);

CREATE TABLE messages (
    conversation_id text NOT NULL,
    message_id      text NOT NULL,
    organization_id text NOT NULL,
    space_id        text NOT NULL,
    role            text NOT NULL CHECK (role IN ('USER', 'ASSISTANT')),
    author_id       text NOT NULL,
    in_reply_to     text,
    text            jsonb,
    excerpts        jsonb NOT NULL DEFAULT '[]',
    sent_at         timestamptz NOT NULL,
    position        bigint NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, position);
CREATE INDEX messages_author ON messages (author_id);

-- readmodel_erasures: the erasure orders the readmodel projection has seen, and the streams
-- it re-reads when one is restored.
CREATE TABLE readmodel_erasures (
    erasure_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    state           text NOT NULL CHECK (state IN ('PENDING', 'RESTORED', 'COMPLETED')),
    streams         text[] NOT NULL DEFAULT '{}',
    position        bigint NOT NULL
);
CREATE INDEX readmodel_erasures_subject ON readmodel_erasures (subject_id);

-- Projection "readmodel.auth" fills api_keys and auth_org_settings (00002_auth) and keeps:
CREATE TABLE auth_erasures (LIKE readmodel_erasures INCLUDING ALL);

-- Projection "audit": one row per event of the log, no personal data (ids only).
CREATE TABLE audit_log (
    event_id         text PRIMARY KEY,
    position         bigint NOT NULL,
    prepare_position bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    organization_id  text,
    space_id         text,
    actor_id         text,
    action           text NOT NULL,
    target_type      text,
    target_id        text,
    outcome          text NOT NULL CHECK (outcome IN ('ok', 'denied'))
);
CREATE INDEX audit_log_organization ON audit_log (organization_id, position DESC, prepare_position DESC);
CREATE INDEX audit_log_actor ON audit_log (organization_id, actor_id);
CREATE INDEX audit_log_target ON audit_log (organization_id, target_id);

CREATE TABLE access_denied (
    event_id               text PRIMARY KEY,
    position               bigint NOT NULL,
    occurred_at            timestamptz NOT NULL,
    organization_id        text NOT NULL,
    actor_id               text NOT NULL,
    command                text NOT NULL,
    target_type            text,
    target_id              text,
    target_organization_id text,
    org_role               text NOT NULL,
    space_role             text NOT NULL,
    reason                 text NOT NULL
);
CREATE INDEX access_denied_organization ON access_denied (organization_id, position DESC);

-- Projection "search.index": what it needs to keep Weaviate in step. search_parts holds a
-- document's text envelopes only until the document is indexed.
CREATE TABLE search_spaces (
    space_id        text PRIMARY KEY,
    organization_id text NOT NULL
);
CREATE INDEX search_spaces_organization ON search_spaces (organization_id);

CREATE TABLE search_documents (
    document_id     text PRIMARY KEY,
    organization_id text NOT NULL,
    space_id        text NOT NULL,
    chunk_count     integer NOT NULL,
    indexed         boolean NOT NULL DEFAULT false
);
CREATE INDEX search_documents_space ON search_documents (space_id);

CREATE TABLE search_parts (
    document_id text NOT NULL,
    chunk_index integer NOT NULL,
    text        jsonb NOT NULL,
    PRIMARY KEY (document_id, chunk_index)
);

CREATE TABLE search_erasures (LIKE readmodel_erasures INCLUDING ALL);

-- +goose Down
DROP TABLE search_erasures;
DROP TABLE search_parts;
DROP TABLE search_documents;
DROP TABLE search_spaces;
DROP TABLE access_denied;
DROP TABLE audit_log;
DROP TABLE auth_erasures;
DROP TABLE readmodel_erasures;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE document_chunks;
DROP TABLE documents;
DROP TABLE assistants;
DROP TABLE space_members;
DROP TABLE spaces;
DROP TABLE users;
DROP TABLE organizations;
