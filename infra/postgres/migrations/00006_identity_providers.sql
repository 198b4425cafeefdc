-- +goose Up
-- Identity providers come from the log (organization.identity_provider_configured.v1 /
-- _removed.v1) and projection "readmodel.auth" owns auth_oidc_providers from now on.
--
-- auth_oidc_claims holds every organisation's configured providers, with the log position at
-- which the organisation first configured the (issuer, audience) pair. auth_oidc_providers,
-- the routing table authentication reads, holds for each pair only the claim with the lowest
-- position (then organisation id): the first organisation to configure a pair receives its
-- tokens, and a later organisation's claim of the same pair waits (listed as inactive) until
-- the first one removes it or is erased. A token can never route to two organisations.
CREATE TABLE auth_oidc_claims (
    organization_id text NOT NULL,
    issuer          text NOT NULL,
    audience        text NOT NULL,
    allowed_amr     text[] NOT NULL DEFAULT '{}',
    accepted_acr    text[] NOT NULL DEFAULT '{}',
    position        bigint NOT NULL,
    PRIMARY KEY (organization_id, issuer, audience)
);
CREATE INDEX auth_oidc_claims_pair ON auth_oidc_claims (issuer, audience, position, organization_id);

-- A rebuild recreates projection tables with LIKE ... INCLUDING ALL, which copies no foreign
-- key: the projection deletes an erased organisation's providers itself.
ALTER TABLE auth_oidc_providers DROP CONSTRAINT auth_oidc_providers_organization_id_fkey;

-- A refused local login is recorded with outcome 'failed'.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('ok', 'denied', 'failed'));

-- +goose Down
UPDATE audit_log SET outcome = 'denied' WHERE outcome = 'failed';
ALTER TABLE audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('ok', 'denied'));
DELETE FROM auth_oidc_providers p WHERE NOT EXISTS (SELECT 1 FROM auth_org_settings s WHERE s.organization_id = p.organization_id);
ALTER TABLE auth_oidc_providers ADD CONSTRAINT auth_oidc_providers_organization_id_fkey
    FOREIGN KEY (organization_id) REFERENCES auth_org_settings ON DELETE CASCADE;
DROP TABLE auth_oidc_claims;
