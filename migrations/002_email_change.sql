-- Up Migration

-- The request the API most recently started for this user; a later request fences out an
-- earlier one whose activities are still in flight (see recordRequest).
ALTER TABLE users ADD COLUMN current_change_id uuid;

ALTER TABLE email_change_requests
  ADD COLUMN needs_old_confirmation boolean NOT NULL DEFAULT false,
  ADD COLUMN resends integer NOT NULL DEFAULT 0,
  ADD COLUMN delivery jsonb NOT NULL DEFAULT '{}'::jsonb;

-- One row per mail the service sends, keyed by the workflow's message key: a retried send
-- finds its own earlier attempt here and never mails twice (R-MAIL).
CREATE TABLE mail_messages (
  message_key      text PRIMARY KEY,
  change_id        uuid REFERENCES email_change_requests (id) ON DELETE CASCADE,
  kind             text NOT NULL,
  recipient        text NOT NULL,
  token_hash       text,
  link_expires_at  timestamptz,
  status           text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent')),
  attempts         integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz
);
CREATE INDEX mail_messages_change ON mail_messages (change_id);

-- Down Migration
DROP TABLE mail_messages;
ALTER TABLE email_change_requests DROP COLUMN delivery, DROP COLUMN resends, DROP COLUMN needs_old_confirmation;
ALTER TABLE users DROP COLUMN current_change_id;
