-- Up Migration

-- Issue #13: SMTP has no idempotency, so a worker that dies between the relay's acceptance and the
-- row's update leaves the send's outcome unknown. `send_started_at` marks an attempt that began SMTP
-- and has not reported; the next attempt that finds it set knows the outcome is in doubt, sends again
-- with the same Message-ID (a mailbox shows one) and counts it in `resent_in_doubt`, for operators.
ALTER TABLE mail_messages
  ADD COLUMN send_started_at timestamptz,
  ADD COLUMN resent_in_doubt integer NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE mail_messages DROP COLUMN resent_in_doubt, DROP COLUMN send_started_at;
