-- +goose Up
-- Authentication (infra/auth). api_keys is the API-key read model: the projection of
-- apikey.created.v1 / apikey.revoked.v1 fills it (hash is the binary SHA-256 of the whole key,
-- i.e. domain.HashAPIKey decoded from hex); infra/auth only reads it. Projections should reuse
-- this table rather than create another.
CREATE TABLE api_keys (
    key_id          text PRIMARY KEY,
    hash            bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix          text NOT NULL,
    organization_id text NOT NULL,
    owner_kind      text NOT NULL CHECK (owner_kind IN ('USER', 'ASSISTANT')),
    owner_id        text NOT NULL,
    state           text NOT NULL CHECK (state IN ('active', 'revoked')),
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

-- auth_org_settings: each organisation's authentication policy.
CREATE TABLE auth_org_settings (
    organization_id              text PRIMARY KEY,
    session_idle_timeout_seconds bigint NOT NULL CHECK (session_idle_timeout_seconds > 0),
    password_policy              jsonb NOT NULL,
    mfa_required                 boolean NOT NULL,
    updated_at                   timestamptz NOT NULL
);

-- auth_oidc_providers: the identity providers an organisation trusts. An (issuer, audience)
-- pair belongs to one organisation, so a token routes to exactly one.
CREATE TABLE auth_oidc_providers (
    organization_id text NOT NULL REFERENCES auth_org_settings ON DELETE CASCADE,
    issuer          text NOT NULL,
    audience        text NOT NULL,
    allowed_amr     text[] NOT NULL DEFAULT '{}',
    accepted_acr    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (organization_id, issuer, audience),
    UNIQUE (issuer, audience)
);

-- auth_sessions: local-login sessions, stored only as the SHA-256 of their token.
CREATE TABLE auth_sessions (
    token_hash           bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id              text NOT NULL,
    organization_id      text NOT NULL,
    created_at           timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL,
    idle_timeout_seconds bigint NOT NULL CHECK (idle_timeout_seconds > 0),
    revoked_at           timestamptz
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- auth_local_credentials: local-account passwords (argon2id PHC strings). login is the
-- HMAC-SHA-256 of the organisation and the normalised login name, never the name.
CREATE TABLE auth_local_credentials (
    organization_id text NOT NULL,
    login           bytea NOT NULL CHECK (length(login) = 32),
    user_id         text NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, login)
);

-- auth_login_attempts: recent failed logins per digest (of a login or of a remote address),
-- shared by every API replica for rate limiting.
CREATE TABLE auth_login_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest       bytea NOT NULL,
    attempted_at timestamptz NOT NULL
);
CREATE INDEX auth_login_attempts_digest ON auth_login_attempts (digest, attempted_at);

-- +goose Down
DROP TABLE auth_login_attempts;
DROP TABLE auth_local_credentials;
DROP TABLE auth_sessions;
DROP TABLE auth_oidc_providers;
DROP TABLE auth_org_settings;
DROP TABLE api_keys;
