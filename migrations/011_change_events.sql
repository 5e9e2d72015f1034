-- Up Migration

-- Issue #14: one ordered log of what happened to each request, for the live status stream
-- (GET /v1/email/change/events) and signed webhooks. Written by triggers in the very transactions
-- that change the request and mail rows, so no state change can happen without its event, and no
-- event can exist for a change that rolled back. Ids only: addresses stay in the request rows.
CREATE TABLE change_events (
  id          bigserial PRIMARY KEY,
  change_id   uuid NOT NULL REFERENCES email_change_requests (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL,
  type        text NOT NULL,
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_events_user ON change_events (user_id, id);
CREATE INDEX change_events_change ON change_events (change_id);

-- How far webhooks went for each user: every event up to delivered_id was accepted by the receiver.
-- The user's workflow delivers under this row's lock, so two runs never deliver the same user's events at once.
CREATE TABLE webhook_cursors (
  user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  delivered_id  bigint NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION change_event(p_change uuid, p_user uuid, p_type text, p_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  new_id bigint;
BEGIN
  INSERT INTO change_events (change_id, user_id, type, data) VALUES (p_change, p_user, p_type, p_data) RETURNING id INTO new_id;
  -- Listeners (one per API process) wake up at commit; the payload is only who and how far.
  PERFORM pg_notify('change_events', p_user::text || ':' || new_id::text);
END $$;

-- Request rows: requested, each confirmation, and every final state.
CREATE FUNCTION email_change_requests_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  base jsonb := jsonb_build_object('changeId', NEW.id, 'kind', NEW.kind);
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM change_event(NEW.id, NEW.user_id, CASE WHEN NEW.state = 'REQUESTED' THEN 'requested' ELSE lower(NEW.state) END,
      base || jsonb_build_object('state', NEW.state, 'reason', NEW.reason, 'confirmOld', NEW.needs_old_confirmation, 'expiresAt', NEW.expires_at));
    RETURN NULL;
  END IF;
  IF NEW.new_confirmed_at IS NOT NULL AND OLD.new_confirmed_at IS NULL THEN
    PERFORM change_event(NEW.id, NEW.user_id, 'confirmed', base || jsonb_build_object('state', OLD.state, 'purpose', 'new'));
  END IF;
  IF NEW.old_confirmed_at IS NOT NULL AND OLD.old_confirmed_at IS NULL THEN
    PERFORM change_event(NEW.id, NEW.user_id, 'confirmed', base || jsonb_build_object('state', OLD.state, 'purpose', 'old'));
  END IF;
  IF NEW.state IS DISTINCT FROM OLD.state THEN
    PERFORM change_event(NEW.id, NEW.user_id, lower(NEW.state), base || jsonb_build_object('state', NEW.state, 'reason', NEW.reason));
  ELSIF NEW.resends > OLD.resends THEN
    PERFORM change_event(NEW.id, NEW.user_id, 'resent', base || jsonb_build_object('state', NEW.state, 'resends', NEW.resends));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER email_change_requests_events
  AFTER INSERT OR UPDATE OF state, new_confirmed_at, old_confirmed_at, resends ON email_change_requests
  FOR EACH ROW EXECUTE FUNCTION email_change_requests_events();

-- Verification mails: a link issued, then its delivery outcome (sent, retrying after an error, failed).
CREATE FUNCTION mail_messages_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  owner uuid;
  kind_ text;
  data jsonb;
BEGIN
  IF NEW.change_id IS NULL OR NEW.kind NOT IN ('verify-new', 'verify-old') THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    kind_ := 'link_issued';
  ELSIF NEW.status = 'sent' AND OLD.status <> 'sent' THEN
    kind_ := 'link_sent';
  ELSIF NEW.status = 'failed' AND OLD.status <> 'failed' THEN
    kind_ := 'link_failed';
  ELSIF NEW.status = 'sending' AND NEW.last_error IS NOT NULL THEN
    -- sendOnce records each failed try this way (its error, the try's number already counted).
    kind_ := 'link_retrying';
  ELSE
    RETURN NULL;
  END IF;
  SELECT user_id INTO owner FROM email_change_requests WHERE id = NEW.change_id;
  IF owner IS NULL THEN RETURN NULL; END IF;
  data := jsonb_build_object('changeId', NEW.change_id, 'purpose', substr(NEW.kind, 8), 'messageKey', NEW.message_key,
    'delivery', jsonb_build_object('status', CASE kind_ WHEN 'link_issued' THEN 'sending' WHEN 'link_sent' THEN 'sent' WHEN 'link_failed' THEN 'failed' ELSE 'retrying' END,
                                   'attempts', NEW.attempts));
  IF kind_ = 'link_issued' THEN data := data || jsonb_build_object('linkExpiresAt', NEW.link_expires_at); END IF;
  PERFORM change_event(NEW.change_id, owner, kind_, data);
  RETURN NULL;
END $$;

CREATE TRIGGER mail_messages_events
  AFTER INSERT OR UPDATE OF status, last_error ON mail_messages
  FOR EACH ROW EXECUTE FUNCTION mail_messages_events();

-- Down Migration
DROP TRIGGER mail_messages_events ON mail_messages;
DROP FUNCTION mail_messages_events();
DROP TRIGGER email_change_requests_events ON email_change_requests;
DROP FUNCTION email_change_requests_events();
DROP FUNCTION change_event(uuid, uuid, text, jsonb);
DROP TABLE webhook_cursors;
DROP TABLE change_events;
