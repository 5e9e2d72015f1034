-- Up Migration

-- Issue #15: the language and time zone the account's pages and mail are written in. NULL: pages
-- follow the browser's Accept-Language, mail is English; dates are shown in UTC.
ALTER TABLE users
  ADD COLUMN locale text CHECK (locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$' AND length(locale) <= 35),
  ADD COLUMN time_zone text CHECK (length(time_zone) BETWEEN 1 AND 64);

-- Down Migration
ALTER TABLE users DROP COLUMN time_zone, DROP COLUMN locale;
