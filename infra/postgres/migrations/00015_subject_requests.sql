-- +goose Up
-- Data subject request cases (issue 18 item 4): one row per request, with its one-month
-- deadline (GDPR Art. 12(3)), closed by the export that answers it. Ids only, nothing
-- personal: the person is their pseudonymous user id.
CREATE TABLE subject_requests (
    request_id      text PRIMARY KEY,
    organization_id text NOT NULL,
    user_id         text NOT NULL,
    kind            text NOT NULL,
    received_at     timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    opened_by       text NOT NULL,
    fulfilled_at    timestamptz,
    fulfilled_by    text,
    archive_sha256  text,
    position        bigint NOT NULL
);
CREATE INDEX subject_requests_org ON subject_requests (organization_id, due_at);

-- +goose Down
DROP TABLE subject_requests;
