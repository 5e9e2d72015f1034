import type pg from 'pg';
import type { ChangeStateName, ChangeStatus, Delivery, Purpose } from '../workflows/messages';
import { statusView, type LinkFacts } from '../workflows/state';

/** The request rows (the seed's request model) and the outbox rows the API reads; the workflow's activities write them. */

export interface RequestRow {
  id: string;
  userId: string;
  state: ChangeStateName;
  kind: 'ADD' | 'UPDATE';
  newEmail: string;
  newEmailNormalized: string;
  oldEmail: string | null;
  needsOld: boolean;
  newConfirmedAt: Date | null;
  oldConfirmedAt: Date | null;
  createdAt: Date;
  expiresAt: Date;
  delivery: { new?: Delivery; old?: Delivery };
  reason: string | null;
  /** Written by the workflow's activities since migration 008 (null on older rows: the workflow must answer). */
  resends: number;
  lastSendAt: Date | null;
  resendCooldownMs: number | null;
  maxResends: number | null;
}

/** The latest verification mail of each purpose of a pending request, as `current()` reads it. */
interface MailFacts {
  purpose: Purpose;
  status: 'sending' | 'sent' | 'failed';
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
  linkExpiresAt: string | null;
}

/**
 * A purpose's links newest first by their send number (messageKeyOf's last part), not by commit time:
 * sends begun in one workflow task (runs that overlapped before JOIN_LINKS_IN_FLIGHT) commit in either
 * order, and only the later send is the link. Send numbers stay small (MAX_RESENDS and one reminder).
 */
const LATEST_SEND_FIRST = `substring(message_key from ':(\\d+)$')::int DESC NULLS LAST, created_at DESC`;

const REQUEST_COLUMNS = `id, user_id AS "userId", state, kind, new_email AS "newEmail", new_email_normalized AS "newEmailNormalized", old_email AS "oldEmail",
  needs_old_confirmation AS "needsOld", new_confirmed_at AS "newConfirmedAt", old_confirmed_at AS "oldConfirmedAt",
  created_at AS "createdAt", expires_at AS "expiresAt", delivery, reason, resends, last_send_at AS "lastSendAt",
  resend_cooldown_ms AS "resendCooldownMs", max_resends AS "maxResends"`;

export type CurrentRow = RequestRow & { mails: MailFacts[] | null };

const CURRENT_SQL = `SELECT ${REQUEST_COLUMNS}, m.mails FROM email_change_requests r
  LEFT JOIN LATERAL (
    SELECT json_agg(x) AS mails FROM (
      SELECT DISTINCT ON (kind) substr(kind, 8) AS purpose, status, attempts, last_error AS "lastError", sent_at AS "sentAt", link_expires_at AS "linkExpiresAt"
      FROM mail_messages WHERE change_id = r.id AND kind IN ('verify-new', 'verify-old') ORDER BY kind, ${LATEST_SEND_FIRST}
    ) x
  ) m ON true
  WHERE r.id = (SELECT current_change_id FROM users WHERE id = $1)`;

/** Ends every other open request of the user as SUPERSEDED (the caller holds the user's row lock and knows its run is current). */
export async function supersedeOpenRequests(db: Pick<pg.PoolClient, 'query'>, userId: string, changeId: string): Promise<void> {
  await db.query(
    `UPDATE email_change_requests SET state = 'SUPERSEDED', reason = 'a newer request replaced this one',
       completed_at = now(), updated_at = now()
     WHERE user_id = $1 AND state = 'REQUESTED' AND id <> $2`,
    [userId, changeId],
  );
}

/** Two runs of one user that started further apart than this are ordered by their start times (server clocks agree this well). */
export const RUN_ORDER_MARGIN_MS = 5_000;

/**
 * Whether the run that started at `runStartedAt` is the user's latest (asked under the user's row lock):
 * one that started well after the run of the user's current request is; when they started close
 * together, or a start time is unknown, Temporal is asked (issue #12: one describe per start saved).
 */
export async function isLatestRun(db: Pick<pg.PoolClient, 'query'>, userId: string, runStartedAt: number | undefined, askTemporal: () => Promise<boolean>): Promise<boolean> {
  if (runStartedAt !== undefined) {
    const { rows } = await db.query<{ startedAt: Date | null }>(
      `SELECT r.run_started_at AS "startedAt" FROM users u JOIN email_change_requests r ON r.id = u.current_change_id WHERE u.id = $1`,
      [userId],
    );
    const previous = rows[0];
    if (!previous) return true; // the user's first request: a newer run recording later finds this one and asks
    if (previous.startedAt && previous.startedAt.getTime() + RUN_ORDER_MARGIN_MS < runStartedAt) return true;
  }
  return askTemporal();
}

export class RequestRows {
  constructor(private readonly pool: pg.Pool) {}

  async byId(changeId: string): Promise<RequestRow | undefined> {
    const { rows } = await this.pool.query<RequestRow>(`SELECT ${REQUEST_COLUMNS} FROM email_change_requests WHERE id = $1`, [changeId]);
    return rows[0];
  }

  /** The user's most recently recorded request, if any, with its latest verification mails (one round trip). */
  async current(userId: string): Promise<CurrentRow | undefined> {
    const { rows } = await this.pool.query<CurrentRow>(CURRENT_SQL, [userId]);
    return rows[0];
  }

  /**
   * current(), and in the same round trip columns of the user's own row (`userColumns.sql`, its
   * parameters after the user id): issue #12's status read asks PostgreSQL once for the request and the lock.
   */
  async currentWithUser<U extends object>(userId: string, userColumns: { sql: string; params: unknown[] }): Promise<{ row: CurrentRow | undefined; user: U | undefined }> {
    // Side by side in one row (the column names differ); no request: its columns are null.
    const { rows } = await this.pool.query<Partial<CurrentRow> & U>(
      `SELECT u.*, c.* FROM (SELECT ${userColumns.sql} FROM users WHERE id = $1) u LEFT JOIN LATERAL (${CURRENT_SQL}) c ON true`,
      [userId, ...userColumns.params],
    );
    const found = rows[0];
    return { row: found?.id ? (found as CurrentRow) : undefined, user: found };
  }

  /** The verifier of the latest link mailed for a purpose of a change (the only one a resend left working). */
  async latestVerifier(changeId: string, purpose: Purpose): Promise<string | null> {
    const { rows } = await this.pool.query<{ verifier: string | null }>(
      `SELECT token_verifier AS verifier FROM mail_messages WHERE change_id = $1 AND kind = $2 ORDER BY ${LATEST_SEND_FIRST} LIMIT 1`,
      [changeId, `verify-${purpose}`],
    );
    return rows[0]?.verifier ?? null;
  }
}

/**
 * R-STATUS from a row (a finished request, or one whose run cannot be asked). Delivery comes from the
 * mail rows when they are read: a send can finish after the outcome was recorded with it "sending".
 */
export function rowStatus(row: RequestRow & { mails?: MailFacts[] | null }): ChangeStatus {
  const mailed = (purpose: Purpose) => {
    const mail = row.mails?.find((m) => m.purpose === purpose);
    return mail && deliveryOf(mail);
  };
  return {
    id: row.id,
    state: row.state,
    kind: row.kind,
    newEmail: row.newEmail,
    oldEmail: row.oldEmail,
    confirmations: { new: row.newConfirmedAt !== null, old: row.needsOld ? row.oldConfirmedAt !== null : null },
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    linkExpiresAt: null,
    resendAvailableAt: null,
    resendsLeft: 0,
    delivery: {
      new: mailed('new') ?? row.delivery.new ?? { status: 'pending', attempts: 0 },
      ...(row.delivery.old || mailed('old') ? { old: mailed('old') ?? row.delivery.old } : {}),
    },
    reason: row.reason,
  };
}

/**
 * R-STATUS of a pending request from its rows (issue #12: no workflow query), or undefined when the
 * row was recorded before the workflow kept these columns current. The workflow's activities write
 * every fact before the workflow itself learns it, so the row is never behind what the run would say.
 */
export function pendingRowStatus(row: RequestRow & { mails: MailFacts[] | null }): ChangeStatus | undefined {
  if (row.state !== 'REQUESTED' || row.resendCooldownMs === null || row.maxResends === null || row.lastSendAt === null) return undefined;
  const mails = row.mails ?? [];
  const link = (purpose: Purpose, confirmedAt: Date | null): LinkFacts => {
    const mail = mails.find((m) => m.purpose === purpose);
    return { confirmedAt: confirmedAt?.getTime() ?? null, linkExpiresAt: mail?.linkExpiresAt ? Date.parse(mail.linkExpiresAt) : null, delivery: deliveryOf(mail) };
  };
  return statusView({
    id: row.id,
    state: row.state,
    kind: row.kind,
    newEmail: row.newEmail,
    oldEmail: row.oldEmail,
    reason: row.reason,
    requestedAt: row.createdAt.getTime(),
    deadline: row.expiresAt.getTime(),
    links: { new: link('new', row.newConfirmedAt), ...(row.needsOld ? { old: link('old', row.oldConfirmedAt) } : {}) },
    resends: row.resends,
    lastSendAt: row.lastSendAt.getTime(),
    resendCooldownMs: row.resendCooldownMs,
    maxResends: row.maxResends,
  });
}

function deliveryOf(mail: MailFacts | undefined): Delivery {
  if (!mail) return { status: 'pending', attempts: 0 };
  const { attempts, lastError } = mail;
  if (mail.status === 'sent') return { status: 'sent', attempts, sentAt: new Date(mail.sentAt!).toISOString() };
  if (mail.status === 'failed') return { status: 'failed', attempts, lastError: lastError ?? undefined };
  return lastError ? { status: 'retrying', attempts, lastError } : { status: 'sending', attempts };
}
