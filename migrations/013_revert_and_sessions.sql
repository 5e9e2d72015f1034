-- Up Migration

-- Issue #15 item 4: the undo ("this wasn't me") of an approved change. The run of the change keeps
-- the window open on its durable timer; these columns let a newer run of the user adopt a window
-- the start of that newer run terminated, and show what happened.
ALTER TABLE email_change_requests
  ADD COLUMN revert_until timestamptz,
  ADD COLUMN reverted_at timestamptz;

-- After an undo, the account starts no email change until this passes or support lifts it
-- (`npm run change -- unblock <userId>`).
ALTER TABLE users ADD COLUMN email_change_blocked_until timestamptz;

-- Issue #15 item 5: a session's own id, so an approved change can revoke every session but the one
-- that asked for it (the request carries this id, never the session token or its hash).
ALTER TABLE sessions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX sessions_id_key ON sessions (id);

-- Down Migration
DROP INDEX sessions_id_key;
ALTER TABLE sessions DROP COLUMN id;
ALTER TABLE users DROP COLUMN email_change_blocked_until;
ALTER TABLE email_change_requests DROP COLUMN reverted_at, DROP COLUMN revert_until;
