import { Webhook } from 'standardwebhooks';

/**
 * Issue #14: webhooks in the Standard Webhooks format (https://www.standardwebhooks.com):
 * `webhook-id`, `webhook-timestamp` (seconds), `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`, one per configured secret, space separated, so a receiver keeps verifying
 * while a secret is rotated).
 */

/** One event of the log (change_events) as the activity reads it. */
export interface EventRow {
  id: string;
  changeId: string;
  userId: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: Date;
  newEmail: string | null;
  oldEmail: string | null;
}

export interface WebhookMessage {
  /** Derived from the event's id alone: every retry of one event carries the same id (receivers dedupe on it). */
  id: string;
  /** The exact bytes signed and sent; the same on every retry. */
  body: string;
}

/** Event types as receivers see them: `email_change.<type>` (the log's own type names). */
export const WEBHOOK_TYPE_PREFIX = 'email_change.';

export const webhookIdOf = (event: Pick<EventRow, 'id' | 'changeId'>) => `evt_${event.id}_${event.changeId.replace(/-/g, '')}`;

/** The payload: ids and states; the addresses only with WEBHOOK_INCLUDE_EMAIL=true. */
export function webhookMessage(event: EventRow, includeEmail: boolean): WebhookMessage {
  const data: Record<string, unknown> = { eventId: Number(event.id), userId: event.userId, ...event.data, changeId: event.changeId };
  delete data.messageKey; // an internal key; the purpose and attempts say what a receiver needs
  if (includeEmail) {
    data.newEmail = event.newEmail;
    data.oldEmail = event.oldEmail;
    if (data.purpose === 'new' || data.purpose === 'old') data.to = data.purpose === 'new' ? event.newEmail : event.oldEmail;
  }
  const body = JSON.stringify({ type: `${WEBHOOK_TYPE_PREFIX}${event.type}`, timestamp: event.createdAt.toISOString(), data });
  return { id: webhookIdOf(event), body };
}

/** The three headers for one attempt; the timestamp is the attempt's, the signature covers it. */
export function signedHeaders(secrets: string[], message: WebhookMessage, at: Date = new Date()): Record<string, string> {
  const signature = secrets.map((secret) => new Webhook(secret).sign(message.id, at, message.body)).join(' ');
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}
