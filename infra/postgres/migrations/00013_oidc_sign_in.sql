-- +goose Up
-- Sign-in through identity providers (issue 23 item 1). auth_oidc_logins holds each
-- authorization-code flow between the redirect to the provider and its callback: the
-- SHA-256 of the state and of the browser's binding cookie, the nonce and the PKCE
-- verifier; a callback takes its row once (used_at), so a replayed callback is refused.
CREATE TABLE auth_oidc_logins (
    state_hash      bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    browser_hash    bytea NOT NULL CHECK (length(browser_hash) = 32),
    organization_id text NOT NULL,
    issuer          text NOT NULL,
    audience        text NOT NULL,
    nonce           text NOT NULL,
    verifier        text NOT NULL,
    created_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX auth_oidc_logins_created ON auth_oidc_logins (created_at);
-- Sessions a provider's sign-in opened: whether it showed MFA, and the provider's
-- end-session URL offered at sign-out.
ALTER TABLE auth_sessions ADD COLUMN mfa boolean NOT NULL DEFAULT false;
ALTER TABLE auth_sessions ADD COLUMN end_session_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_sessions DROP COLUMN end_session_url;
ALTER TABLE auth_sessions DROP COLUMN mfa;
DROP TABLE auth_oidc_logins;
