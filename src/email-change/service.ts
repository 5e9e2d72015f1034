import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import { AppError } from '../api/errors';
import type { Accounts, User } from '../accounts/accounts';
import type { LockStatus, ReauthGuard } from '../accounts/lockout';
import { verifyPassword } from '../accounts/passwords';
import type { BiometricProof, Devices } from '../accounts/devices';
import { inTransaction } from '../db/pool';
import type { EmailAddress } from '../email-address';
import { hashToken, verifyLinkToken, type LinkToken } from '../tokens';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { initialState, statusOf } from '../workflows/state';
import {
  cancelUpdate,
  FailureType,
  linkQuery,
  resendUpdate,
  statusQuery,
  verifyUpdate,
  workflowIdFor,
  type ChangeStateName,
  type ChangeStatus,
  type Delivery,
  type EmailChangeInput,
  type LinkCheck,
  type LinkDeadReason,
  type RequestedBy,
} from '../workflows/messages';

export type ReauthProof = { method: 'password'; password: string } | BiometricProof;

/** What a link page shows for a token, decided without consuming it. */
export type LinkView =
  | { kind: 'confirm'; purpose: 'new' | 'old' }
  | { kind: 'already-confirmed' }
  | { kind: 'invalid' }
  | { kind: 'dead'; reason: LinkDeadReason; canResend: boolean }
  | { kind: 'declined' };

interface RequestRow {
  id: string;
  userId: string;
  state: ChangeStateName;
  kind: 'ADD' | 'UPDATE';
  newEmail: string;
  oldEmail: string | null;
  needsOld: boolean;
  newConfirmedAt: Date | null;
  oldConfirmedAt: Date | null;
  createdAt: Date;
  expiresAt: Date;
  delivery: { new?: Delivery; old?: Delivery };
  reason: string | null;
}

const REQUEST_COLUMNS = `id, user_id AS "userId", state, kind, new_email AS "newEmail", old_email AS "oldEmail",
  needs_old_confirmation AS "needsOld", new_confirmed_at AS "newConfirmedAt", old_confirmed_at AS "oldConfirmedAt",
  created_at AS "createdAt", expires_at AS "expiresAt", delivery, reason`;

const DEAD_REASON: Partial<Record<ChangeStateName, LinkDeadReason>> = {
  SUPERSEDED: 'superseded',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
  APPROVED: 'finished',
  DECLINED: 'finished',
};

/** How long the API waits on Temporal before answering 503. */
const TEMPORAL_DEADLINE_MS = 15_000;

/** The API's side of the flow: re-authenticate, then start, ask or message the user's workflow. */
export class EmailChangeService {
  constructor(
    private readonly config: Config,
    private readonly pool: pg.Pool,
    private readonly temporal: Client,
    private readonly accounts: Accounts,
    private readonly guard: ReauthGuard,
    private readonly devices: Devices,
  ) {}

  /** R-START: re-authenticate, check the address, then start the user's workflow (replacing a pending one). */
  async start(user: User, email: EmailAddress, proof: ReauthProof, meta: { ip?: string; userAgent?: string }): Promise<{ change: ChangeStatus; lock: LockStatus }> {
    // UC03: a failed biometric proof counts like a wrong password; the next request may use the password.
    await this.guard.attempt(user.id, async () =>
      proof.method === 'password'
        ? verifyPassword(await this.accounts.passwordHash(user.id), proof.password)
        : this.devices.verifyProof(user.id, proof),
    );

    if (user.emailVerified && user.emailNormalized === email.normalized) {
      throw new AppError(409, 'SAME_EMAIL', 'This is already your verified email address');
    }
    if (await this.accounts.isVerifiedElsewhere(email.normalized, user.id)) {
      throw new AppError(409, 'EMAIL_TAKEN', 'This email address belongs to another account');
    }

    const requestedBy: RequestedBy = { username: user.username, method: proof.method, ...meta };
    const input: EmailChangeInput = {
      changeId: randomUUID(),
      userId: user.id,
      kind: user.emailVerified ? 'UPDATE' : 'ADD',
      newEmail: email.address,
      newEmailNormalized: email.normalized,
      oldEmail: user.email,
      oldEmailVerified: user.emailVerified,
      confirmOld: user.emailVerified && this.config.policy.confirmOldEmail,
      requestedAt: Date.now(),
      requestedBy,
      policy: this.config.policy,
    };
    // The user's row lock orders concurrent starts; Temporal terminates the run this one replaces.
    await inTransaction(this.pool, async (db) => {
      await db.query('UPDATE users SET current_change_id = $2 WHERE id = $1', [user.id, input.changeId]);
      await db.query(
        `UPDATE email_change_requests SET state = 'SUPERSEDED', reason = 'a newer request replaced this one',
           completed_at = now(), updated_at = now() WHERE user_id = $1 AND state = 'REQUESTED'`,
        [user.id],
      );
      await this.withDeadline(() =>
        this.temporal.workflow.start('emailChange', {
          taskQueue: this.config.temporal.taskQueue,
          workflowId: workflowIdFor(user.id),
          args: [input],
          workflowIdConflictPolicy: 'TERMINATE_EXISTING',
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.userId.key, value: user.id },
            { key: SEARCH_ATTRIBUTES.state.key, value: 'REQUESTED' },
          ],
        }),
      );
    });
    return { change: statusOf(initialState(input)), lock: await this.guard.status(user.id) };
  }

  /** R-STATUS: from the running workflow while it runs, from PostgreSQL after. */
  async status(userId: string): Promise<{ change: ChangeStatus | null; lock: LockStatus }> {
    const [change, lock] = await Promise.all([this.currentChange(userId), this.guard.status(userId)]);
    return { change, lock };
  }

  async pendingChange(userId: string): Promise<ChangeStatus | null> {
    const change = await this.currentChange(userId);
    return change?.state === 'REQUESTED' ? change : null;
  }

  /** R-AVAIL */
  async availability(user: User, email: EmailAddress | undefined, raw: string) {
    if (!email) return { email: raw.trim().toLowerCase(), available: false, reason: 'invalid' as const };
    if (user.emailVerified && user.emailNormalized === email.normalized) return { email: email.normalized, available: false, reason: 'current' as const };
    if (await this.accounts.isVerifiedElsewhere(email.normalized, user.id)) return { email: email.normalized, available: false, reason: 'taken' as const };
    return { email: email.normalized, available: true };
  }

  /** R-VERIFY: checks the token, then hands its hash to the workflow, which answers with the outcome. */
  async verify(token: unknown): Promise<ChangeStatus & { alreadyConfirmed: boolean }> {
    const claims = this.claims(token);
    const row = await this.request(claims.changeId);
    if (!row) throw invalidToken();
    if (row.state === 'APPROVED') return { ...rowStatus(row), alreadyConfirmed: true };
    if (row.state !== 'REQUESTED') throw deadLink(row);
    if (claims.expiresAt <= Date.now()) throw linkExpired('expired', 'This link has expired');

    const result = await this.update(
      row,
      () =>
        this.handle(row.userId).executeUpdate(verifyUpdate, {
          args: [{ changeId: row.id, purpose: claims.purpose, tokenHash: hashToken(token as string) }],
        }),
      // A concurrent click completed the change while this one was on its way: it is already confirmed.
      (now) => (now.state === 'APPROVED' ? { alreadyConfirmed: true, status: rowStatus(now) } : undefined),
    );
    if (result.status.state === 'DECLINED') throw emailTaken();
    return { ...result.status, alreadyConfirmed: result.alreadyConfirmed };
  }

  /** R-RESEND for the signed-in user's pending change. */
  async resend(userId: string): Promise<ChangeStatus> {
    const row = await this.pendingRow(userId);
    return this.update(row, () => this.handle(userId).executeUpdate(resendUpdate, { args: [{ changeId: row.id }] }));
  }

  /** R-LINK: "send a new link" from an expired link's page (the token's MAC must still be right). */
  async resendByToken(token: unknown): Promise<ChangeStatus> {
    const claims = this.claims(token);
    const row = await this.request(claims.changeId);
    if (!row) throw invalidToken();
    if (row.state !== 'REQUESTED') throw deadLink(row);
    return this.update(row, () => this.handle(row.userId).executeUpdate(resendUpdate, { args: [{ changeId: row.id }] }));
  }

  /** R-CANCEL */
  async cancel(userId: string): Promise<ChangeStatus> {
    const row = await this.pendingRow(userId);
    return this.update(row, () => this.handle(userId).executeUpdate(cancelUpdate, { args: [{ changeId: row.id }] }));
  }

  /** What the link page should offer, consuming nothing. */
  async inspectLink(token: unknown): Promise<LinkView> {
    const claims = verifyLinkToken(this.config.tokenSecret, token);
    if (!claims) return { kind: 'invalid' };
    const row = await this.request(claims.changeId);
    if (!row) return { kind: 'invalid' };
    if (row.state === 'APPROVED') return { kind: 'already-confirmed' };
    if (row.state === 'DECLINED') return { kind: 'declined' };
    if (row.state !== 'REQUESTED') return { kind: 'dead', reason: DEAD_REASON[row.state]!, canResend: false };
    const check: LinkCheck = await this.withDeadline(() =>
      this.handle(row.userId).query(linkQuery, { changeId: row.id, purpose: claims.purpose, tokenHash: hashToken(token as string) }),
    ).catch(() => ({ ok: false, type: FailureType.linkExpired, reason: 'finished', message: '' }) as const);
    if (check.ok) {
      if (check.confirmed) return { kind: 'already-confirmed' };
      if (claims.expiresAt <= Date.now()) return { kind: 'dead', reason: 'expired', canResend: true };
      return { kind: 'confirm', purpose: claims.purpose };
    }
    if (check.type === FailureType.invalidToken) return { kind: 'invalid' };
    const reason = check.reason ?? 'finished';
    return { kind: 'dead', reason, canResend: reason === 'expired' || reason === 'resent' };
  }

  // ── helpers ────────────────────────────────────────────────────────────────

  private claims(token: unknown): LinkToken {
    const claims = verifyLinkToken(this.config.tokenSecret, token);
    if (!claims) throw invalidToken();
    return claims;
  }

  private handle(userId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(workflowIdFor(userId));
  }

  private withDeadline<T>(call: () => Promise<T>): Promise<T> {
    return this.temporal.connection.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, call);
  }

  /** Sends an update; the workflow's typed refusals become R-ERR answers, a closed run is read from PostgreSQL. */
  private async update<T>(row: RequestRow, call: () => Promise<T>, onClosed?: (now: RequestRow) => T | undefined): Promise<T> {
    try {
      return await this.withDeadline(call);
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure) throw fromWorkflowFailure(cause);
      if (err instanceof WorkflowNotFoundError || isClosedWorkflowError(err)) {
        const now = await this.request(row.id);
        const answer = now && onClosed?.(now);
        if (answer) return answer;
        throw now && now.state !== 'REQUESTED' ? deadLink(now) : new AppError(409, 'NOT_PENDING', 'This request is no longer pending');
      }
      throw err;
    }
  }

  private async request(changeId: string): Promise<RequestRow | undefined> {
    const { rows } = await this.pool.query<RequestRow>(`SELECT ${REQUEST_COLUMNS} FROM email_change_requests WHERE id = $1`, [changeId]);
    return rows[0];
  }

  private async pendingRow(userId: string): Promise<RequestRow> {
    const { rows } = await this.pool.query<RequestRow>(
      `SELECT ${REQUEST_COLUMNS} FROM email_change_requests r
       WHERE r.id = (SELECT current_change_id FROM users WHERE id = $1) AND r.state = 'REQUESTED'`,
      [userId],
    );
    if (!rows[0]) throw new AppError(404, 'NOT_FOUND', 'There is no pending email change');
    return rows[0];
  }

  private async currentChange(userId: string): Promise<ChangeStatus | null> {
    const { rows } = await this.pool.query<RequestRow & { current: string | null }>(
      `SELECT u.current_change_id AS current, r.* FROM users u
       LEFT JOIN LATERAL (SELECT ${REQUEST_COLUMNS} FROM email_change_requests WHERE id = u.current_change_id) r ON true
       WHERE u.id = $1`,
      [userId],
    );
    const row = rows[0];
    if (!row?.current) return null;
    if (row.id && row.state !== 'REQUESTED') return rowStatus(row);
    try {
      const live = await this.withDeadline(() => this.handle(userId).query(statusQuery));
      if (live.id === row.current) return live;
    } catch {
      // The run is gone or unreachable: PostgreSQL's record is the answer.
    }
    return row.id ? rowStatus(row) : null;
  }
}

function rowStatus(row: RequestRow): ChangeStatus {
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
    delivery: { new: row.delivery.new ?? { status: 'pending', attempts: 0 }, ...(row.delivery.old ? { old: row.delivery.old } : {}) },
    reason: row.reason,
  };
}

const invalidToken = () => new AppError(400, 'INVALID_TOKEN', 'This link is not valid');
const emailTaken = () => new AppError(409, 'EMAIL_TAKEN', 'Another account verified this address first');
const linkExpired = (reason: LinkDeadReason, message: string) => new AppError(410, 'LINK_EXPIRED', message, { reason });

function deadLink(row: RequestRow): AppError {
  if (row.state === 'DECLINED') return emailTaken();
  const reason = DEAD_REASON[row.state] ?? 'finished';
  return linkExpired(reason, `This request is ${row.state.toLowerCase()}`);
}

function fromWorkflowFailure(failure: ApplicationFailure): AppError {
  const details = (failure.details?.[0] ?? {}) as { reason?: LinkDeadReason; retryAfterMs?: number | null; resendsLeft?: number };
  switch (failure.type) {
    case FailureType.invalidToken:
      return invalidToken();
    case FailureType.linkExpired:
      return linkExpired(details.reason ?? 'expired', failure.message);
    case FailureType.rateLimited: {
      const seconds = Math.max(1, Math.ceil((details.retryAfterMs ?? 1000) / 1000));
      return new AppError(429, 'RATE_LIMITED', failure.message, { retryAfterSeconds: seconds, ...(details.resendsLeft === 0 ? { resendsLeft: 0 } : {}) }, { 'Retry-After': String(seconds) });
    }
    default:
      return new AppError(409, 'NOT_PENDING', failure.message);
  }
}

function isClosedWorkflowError(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name} ${err.message}` : '';
  return /workflow execution already completed|already completed|not found/i.test(text);
}
