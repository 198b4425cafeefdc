-- +goose Up
-- Projection "readmodel.model_invocations": what was sent to which model, for the Admins'
-- modelInvocations query. Sealed fields (request parts, response) are SealedRef jsonb
-- ({"eventId", "path", "envelope"}), decrypted at query time.
CREATE TABLE model_invocations (
    invocation_id     text PRIMARY KEY,
    event_id          text NOT NULL,
    organization_id   text NOT NULL,
    space_id          text NOT NULL,
    assistant_id      text NOT NULL,
    user_id           text NOT NULL,
    conversation_id   text NOT NULL,
    message_id        text NOT NULL,
    model             text NOT NULL,
    region            text NOT NULL,
    outcome           text NOT NULL,
    error             text,
    excerpts          jsonb NOT NULL,
    payload_logged    boolean NOT NULL,
    request_parts     jsonb NOT NULL,
    request_sha256    text,
    response_payload  jsonb,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    latency_millis    bigint NOT NULL,
    attempts          integer NOT NULL,
    invoked_at        timestamptz NOT NULL,
    position          bigint NOT NULL
);
CREATE INDEX model_invocations_org ON model_invocations (organization_id, position DESC);
CREATE INDEX model_invocations_assistant ON model_invocations (organization_id, assistant_id, position DESC);
CREATE INDEX model_invocations_space ON model_invocations (organization_id, space_id, position DESC);
CREATE INDEX model_invocations_user ON model_invocations (organization_id, user_id, position DESC);

-- +goose Down
DROP TABLE model_invocations;
