-- Up Migration

-- Fixed-window limits (rate-limiter-flexible's RateLimiterPostgres, in the layout it expects):
-- one row per "<limit name>:<sha256 of the key>", shared by every API process.
CREATE TABLE rate_limits (
  key     varchar(255) PRIMARY KEY,
  points  integer NOT NULL DEFAULT 0,
  expire  bigint
);
CREATE INDEX rate_limits_expire ON rate_limits (expire);

-- Sign-in back-off per username and per client: failures (each try counts until it succeeds)
-- and when the last one was claimed; the next try waits base * 2^(failures - free), capped.
CREATE TABLE sign_in_backoff (
  key              text PRIMARY KEY,
  failures         integer NOT NULL DEFAULT 0,
  last_failure_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sign_in_backoff_last_failure ON sign_in_backoff (last_failure_at);

-- R-LOCK: re-authentications under way. They count towards AUTH_MAX_FAILURES (so parallel
-- wrong proofs never get more tries) but only a confirmed failure can set the lock.
ALTER TABLE users
  ADD COLUMN auth_in_flight integer NOT NULL DEFAULT 0,
  ADD COLUMN auth_in_flight_at timestamptz;

-- Down Migration
ALTER TABLE users DROP COLUMN auth_in_flight_at, DROP COLUMN auth_in_flight;
DROP TABLE sign_in_backoff;
DROP TABLE rate_limits;
