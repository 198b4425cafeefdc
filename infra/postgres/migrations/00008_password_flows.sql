-- +goose Up
-- Password flows (issue 13 item 5). must_change marks a password an Admin set for someone
-- else: the next login opens a session flagged password_change_required, which may only
-- change the password.
ALTER TABLE auth_local_credentials ADD COLUMN must_change boolean NOT NULL DEFAULT false;
ALTER TABLE auth_sessions ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE auth_sessions DROP COLUMN password_change_required;
ALTER TABLE auth_local_credentials DROP COLUMN must_change;
