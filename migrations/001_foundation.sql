-- Up Migration

-- Accounts. Emails are stored as typed and in a normalised (lower-case) form used for lookups.
CREATE TABLE users (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username             text NOT NULL,
  password_hash        text NOT NULL,
  email                text,
  email_normalized     text,
  email_verified       boolean NOT NULL DEFAULT false,
  email_verified_at    timestamptz,
  -- R-LOCK: failed re-authentications counted atomically in this row.
  auth_failures        integer NOT NULL DEFAULT 0,
  auth_window_start    timestamptz,
  locked_until         timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_pair CHECK ((email IS NULL) = (email_normalized IS NULL)),
  CONSTRAINT users_verified_has_email CHECK (NOT email_verified OR (email IS NOT NULL AND email_verified_at IS NOT NULL))
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
-- R-CONFLICT: a verified address belongs to exactly one account, whatever its case.
CREATE UNIQUE INDEX users_verified_email_key ON users (lower(email_normalized)) WHERE email_verified;
CREATE INDEX users_email_lookup ON users (lower(email_normalized));

-- Bearer sessions; only a SHA-256 of the token is stored.
CREATE TABLE sessions (
  token_hash  bytea PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- The seed's request model: one row per email add/change request.
CREATE TABLE email_change_requests (
  id                    uuid PRIMARY KEY,
  user_id               uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  workflow_id           text NOT NULL,
  kind                  text NOT NULL CHECK (kind IN ('ADD', 'UPDATE')),
  old_email             text,
  new_email             text NOT NULL,
  new_email_normalized  text NOT NULL,
  state                 text NOT NULL DEFAULT 'REQUESTED'
                        CHECK (state IN ('REQUESTED', 'APPROVED', 'DECLINED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED')),
  reason                text,
  new_confirmed_at      timestamptz,
  old_confirmed_at      timestamptz,
  expires_at            timestamptz NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  completed_at          timestamptz
);
CREATE INDEX email_change_requests_user ON email_change_requests (user_id, created_at DESC);
-- At most one pending request per user, whatever the API does.
CREATE UNIQUE INDEX email_change_requests_one_pending ON email_change_requests (user_id) WHERE state = 'REQUESTED';

-- Addresses a user had before, with when they were replaced.
CREATE TABLE email_history (
  id                 bigserial PRIMARY KEY,
  user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email              text NOT NULL,
  was_verified       boolean NOT NULL,
  replaced_at        timestamptz NOT NULL DEFAULT now(),
  change_request_id  uuid REFERENCES email_change_requests (id)
);
CREATE INDEX email_history_user ON email_history (user_id, replaced_at DESC);

-- Device keys for biometric re-authentication (ECDSA P-256 public keys as JWK).
CREATE TABLE devices (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name        text NOT NULL,
  public_key  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX devices_user ON devices (user_id);

-- Down Migration
DROP TABLE devices;
DROP TABLE email_history;
DROP TABLE email_change_requests;
DROP TABLE sessions;
DROP TABLE users;
