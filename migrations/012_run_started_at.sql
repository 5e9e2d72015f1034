-- Up Migration

-- Issue #12: the start time of each request's run (Temporal's, from the run itself). recordRequest
-- compares it with the user's current request instead of asking Temporal which run is current, unless
-- the two runs started close together (then it asks; server clocks may differ a little).
ALTER TABLE email_change_requests ADD COLUMN run_started_at timestamptz;

-- Down Migration
ALTER TABLE email_change_requests DROP COLUMN run_started_at;
