-- Up Migration

-- Issue #9: fingerprints were a plain SHA-256 of a body that held the password (crackable
-- offline); they are now an HMAC of the body without credentials, so no old row could match a
-- retry anyway. Delete them all rather than keep password-derived hashes for up to 24 hours.
DELETE FROM idempotency_keys;

-- A claim belongs to one request (owner) only while that request renews its lease; a retry takes
-- over a claim whose owner died. Answered rows keep both columns, unused.
ALTER TABLE idempotency_keys
  ADD COLUMN owner uuid NOT NULL,
  ADD COLUMN lease_until timestamptz NOT NULL;

-- Down Migration
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys
  DROP COLUMN lease_until,
  DROP COLUMN owner;
