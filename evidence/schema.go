package evidence

// SchemaDoc is schema.md, the bundle's description of its own files.
const SchemaDoc = `# Arkiv DPIA evidence bundle (arkiv-evidence/v1)

All times are UTC (RFC 3339). Ids are the pseudonymous ids of the log (users, spaces, keys);
no name, e-mail or content is in a bundle unless it was exported with --with-names (then
users' names appear as "name", never for erased users). Every list is sorted, so two exports
of the same period have identical content files; only manifest.json's signedAt differs.

## manifest.json, manifest.sig
- format, organization, from, to (the period, from inclusive, to exclusive, business time),
  arkivVersion, withNames
- checkpoint: origin, treeSize, root (base64), note (the signed checkpoint, verbatim),
  coversPeriodEnd (false: no checkpoint after the period's last event yet; the newest is given)
- files[]: name, sha256 (hex), size (bytes) of every other file
- signedAt
manifest.sig is manifest.json signed as a C2SP signed note with the ledger's Ed25519 key
(check: arkiv evidence verify FILE.zip --key KEY, KEY as printed by arkiv audit public-key).

## configuration.json (configuration.v1)
- period {organization, from, to}
- atStart, atEnd: {exists, settings (the organisation settings: models with region and
  maxClassification, classificationLevels, retention, audit retention, erasure grace, session
  idle timeout, password policy, mfaRequired, euOnly), identityProviders[], spaces[] {id,
  classification, models, deleted}, assistants[] {id, spaceId, model, retentionDays (0: the
  organisation's default), logModelPayloads, maxExcerpts, maxExcerptChars, deleted}} — folded from the organisation's events up to the instant
- changes[]: {at, actor, type, eventId, leaf (index in the ledger), data (the event's payload,
  sealed fields as "[sealed]")} for every configuration event in the period

## access-control.json (access-control.v1)
- rbacMatrix[]: {command, scope, orgRoles, spaceRoles} generated from the enforced RBAC table
- atStart, atEnd: {users[] {id, role, active}, spaces[] {id, deleted, members[] {userId, role}}}
- changes[]: role, membership and API key changes in the period (as in configuration.json)
- apiKeys[]: {id, prefix, ownerKind, ownerId, createdBy, createdAt, lastUsedAt, revokedAt,
  revokedBy} at the period's end; never a secret or its hash

## safeguards.json (safeguards.v1): statistics of the period
- denialsByReason[], denialsByCommand[]: {key, count}
- loginsSucceeded, loginsFailedByReason[]
- modelCalls[]: {region, classification (of the space), calls, excerpts (retrieved excerpts
  sent), requestParts, sealedRequestBytes (size of the sealed request parts as stored),
  promptTokens, payloadsLogged}
- erasures[] (requested, restored, completed), erasureCertificates[] {erasureId, subjectType,
  subjectId, completedAt, eventId, leaf}: each the erasure.completed event, provable in the
  ledger with arkiv audit prove --event ID
- retentionDestructionsByBucketKind[]
- auditReads[]: {at, actor, type, justificationRef (sha256 of the sealed justification as
  stored), eventId, leaf}
- exports[]: {at, actor, type, format, justificationRef, eventId, leaf}

## erasures.json (erasures.v1)
- period
- certificates[]: erasureId, eventId, leaf, certifiedAt, signed, certificate — every erasure
  certificate recorded in the period (erasure.certified.v1), verbatim: the certificate's JSON
  (schema arkiv.erasure-certificate.v1: subjectType, subjectId (pseudonymous), spaceId,
  orderedBy, origin (the command: DeleteDocument, RequestErasure…), legalBasis, requestedAt,
  restorableUntil, completedAt, certifiedAt, keysDestroyed[] {keyId, destroyedAt}, purged[]
  {store, rows, objects, tenants, payloads, note}, postCheck {fieldsChecked, fieldsReadable,
  decryptionFails, scans[] {store, checked, found}, passed}, notes[]) as a C2SP signed note
  under the ledger key when signed: "arkiv erasure verify FILE --key KEY" checks one offline
- legalHoldChanges[]: the legal holds placed (legal_hold.placed.v1) and lifted
  (legal_hold.lifted.v1) in the period, as changes (at, actor, type, eventId, leaf, data)
- legalHoldsActiveAtEnd[]: holdId, subject {Kind, ID}, spaceId, reason, placedBy, placedAt

## integrity.json (integrity.v1)
- periodLeaves: [first, end) leaf indexes of the period's events
- checkpoints[]: {eventId, leaf, origin, treeSize, root, note}: the last checkpoint before the
  period, those within it, and the first after its last event
- verification: {ok, verifiedThroughTreeSize, coversPeriodEnd, checks, failure}: the result of
  verifying the log from its start (as arkiv audit verify does)

## deployment.json (deployment.v1), when the exporting installation reports it
Observed at the export, not folded from the log: kekHolder (file or external), kekVersions,
currentKekVersion, kekHistory (per KEK version: version, inUseSince, rotationStartedAt and
rotationCompletedAt when reached by rotation, keysRewrapped), dataKeys, ledgerKey (the public verifier key), tlsConfigured,
tlsMinVersion.

## report.html, report.pdf
The DPIA headings for technical measures, each claim linked to file#JSON-pointer.

## oscal-assessment-results.json
OSCAL 1.1.2 assessment-results: one observation per claim, one finding per ISO/IEC
27001:2022 Annex A control (a.5.15, a.5.17, a.5.18, a.8.5, a.8.10, a.8.11, a.8.12, a.8.15,
a.8.16, a.8.24); UUIDv5 ids derived from the content.
`
