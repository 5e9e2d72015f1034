-- Up Migration

-- Issue #12: the status of a pending change is read from PostgreSQL, kept current by the activities
-- its workflow already runs (record, prepare link, send, a first confirmation); the workflow query is
-- asked only where a row cannot answer (no row yet, or a row recorded before these columns existed).
ALTER TABLE email_change_requests
  ADD COLUMN last_send_at timestamptz,
  ADD COLUMN resend_cooldown_ms integer,
  ADD COLUMN max_resends integer;

-- What the status shows as `delivery`: the last SMTP error (retrying) and a send given up (failed).
ALTER TABLE mail_messages ADD COLUMN last_error text;
ALTER TABLE mail_messages DROP CONSTRAINT mail_messages_status_check;
ALTER TABLE mail_messages ADD CONSTRAINT mail_messages_status_check CHECK (status IN ('sending', 'sent', 'failed'));

-- Down Migration
ALTER TABLE mail_messages DROP CONSTRAINT mail_messages_status_check;
UPDATE mail_messages SET status = 'sending' WHERE status = 'failed';
ALTER TABLE mail_messages ADD CONSTRAINT mail_messages_status_check CHECK (status IN ('sending', 'sent'));
ALTER TABLE mail_messages DROP COLUMN last_error;
ALTER TABLE email_change_requests DROP COLUMN max_resends, DROP COLUMN resend_cooldown_ms, DROP COLUMN last_send_at;
