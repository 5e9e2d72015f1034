-- Up Migration

-- Issue #10: a user's address history can be erased on request (src/privacy/erasure.ts). An erased
-- request keeps its facts (kind, state, dates) without its addresses; a mail keeps its kind and
-- time without its recipient. Deleting an account must not trip over another account's history
-- row that names one of its requests (the address it took from an unverified holder).
ALTER TABLE email_change_requests
  ADD COLUMN erased_at timestamptz,
  ALTER COLUMN new_email DROP NOT NULL,
  ALTER COLUMN new_email_normalized DROP NOT NULL,
  ADD CONSTRAINT email_change_requests_address_unless_erased
    CHECK (erased_at IS NOT NULL OR (new_email IS NOT NULL AND new_email_normalized IS NOT NULL));

ALTER TABLE mail_messages ALTER COLUMN recipient DROP NOT NULL;

ALTER TABLE email_history
  DROP CONSTRAINT email_history_change_request_id_fkey,
  ADD CONSTRAINT email_history_change_request_id_fkey
    FOREIGN KEY (change_request_id) REFERENCES email_change_requests (id) ON DELETE SET NULL;

-- Down Migration
ALTER TABLE email_history
  DROP CONSTRAINT email_history_change_request_id_fkey,
  ADD CONSTRAINT email_history_change_request_id_fkey
    FOREIGN KEY (change_request_id) REFERENCES email_change_requests (id);
UPDATE mail_messages SET recipient = '' WHERE recipient IS NULL;
ALTER TABLE mail_messages ALTER COLUMN recipient SET NOT NULL;
UPDATE email_change_requests SET new_email = '', new_email_normalized = '' WHERE new_email IS NULL;
ALTER TABLE email_change_requests
  DROP CONSTRAINT email_change_requests_address_unless_erased,
  ALTER COLUMN new_email SET NOT NULL,
  ALTER COLUMN new_email_normalized SET NOT NULL,
  DROP COLUMN erased_at;
