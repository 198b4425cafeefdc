-- +goose Up
-- Password history (issue 18 item 6): the argon2id hashes of a local account's recent
-- passwords, newest first, so a policy's historyEntries can refuse reuse. At most 24 per user
-- are kept (the policy's bound); they go with the account.
CREATE TABLE auth_password_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       text NOT NULL,
    password_hash text NOT NULL,
    set_at        timestamptz NOT NULL
);
CREATE INDEX auth_password_history_user ON auth_password_history (user_id, id DESC);

-- +goose Down
DROP TABLE auth_password_history;
