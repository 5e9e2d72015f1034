-- Up Migration

-- Issue #14: users of the app's identity provider. A user seen first in an access token gets a row
-- here (its issuer and subject) and a user row without a password; the primary key keeps one user
-- per subject of an issuer, whatever number of first requests arrive at once.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE external_identities (
  issuer      text NOT NULL,
  subject     text NOT NULL,
  user_id     uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, subject)
);

-- ID tokens spent as re-authentication proofs (SHA-256 of the token), so one is never spent twice;
-- kept until its auth_time is too old to be accepted anyway.
CREATE TABLE used_id_tokens (
  token_hash  bytea PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX used_id_tokens_expiry ON used_id_tokens (expires_at);

-- Down Migration
DROP TABLE used_id_tokens;
DROP TABLE external_identities;
-- '!' is no argon2 hash: nobody can sign in with a password to these accounts.
UPDATE users SET password_hash = '!' WHERE password_hash IS NULL;
ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL;
