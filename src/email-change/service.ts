import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { isGrpcServiceError, WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import type { Logger } from '../log';
import { unavailable } from '../api/errors';
import type { Accounts, User } from '../accounts/accounts';
import type { LockFacts, LockStatus, ReauthGuard } from '../accounts/lockout';
import type { ReauthProof, Reauthentication } from '../accounts/reauth';
import type { RateLimits } from '../auth/rate-limits';
import type { EmailAddress } from '../email-address';
import { deviceName } from '../mail/device-name';
import { maskEmail } from '../mail/templates';
import { proofOf, tokenVerifier, verifyLinkToken, type LinkToken } from '../tokens';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { initialState, statusOf } from '../workflows/state';
import {
  cancelUpdate,
  CURRENT_SHAPE,
  FailureType,
  linkQuery,
  recordedUpdate,
  resendUpdate,
  statusQuery,
  verifyCodeUpdate,
  verifyUpdate,
  workflowIdFor,
  type ChangeStatus,
  type EmailChangeInput,
  type LinkCheck,
  type LinkDeadReason,
  type Purpose,
} from '../workflows/messages';
import { pendingRowStatus, RequestRows, rowStatus, type CurrentRow, type RequestRow } from './requests';
import { deadLink, deadReasonOf, declined, fromWorkflowFailure, invalidToken, isClosedWorkflowError, linkExpired, noPendingChange } from './errors';
import { AppError } from '../api/errors';
import type { IdempotentTry } from '../api/idempotency';
import { Reconciler } from './reconcile';
import { assertChangesAllowed } from './revert';
import { callTemporal } from './temporal-call';
import { within } from '../timeout';
import { SmtpUtf8Support } from '../mail/transport';
import { CODE_MAX_ATTEMPTS, codeProofs } from '../verification-codes';

export type { ReauthProof } from '../accounts/reauth';

/** What a link page shows for a token, decided without consuming it. */
export type LinkView =
  | { kind: 'confirm'; purpose: Purpose }
  | { kind: 'already-confirmed' }
  | { kind: 'invalid' }
  | { kind: 'dead'; reason: LinkDeadReason; canResend: boolean }
  | { kind: 'declined'; code: string };

/** gRPC's NOT_FOUND: what update-with-start answers when its run ended before the Update could run. */
const GRPC_NOT_FOUND = 5;
/** How long the API waits on Temporal before answering 503 (an Update may wait for the change to apply). */
const TEMPORAL_DEADLINE_MS = 15_000;
/**
 * How long a start waits for its run's first answer before answering from what it sent (the run goes on).
 * As long as any Temporal call: a shorter wait turned history failovers into 503s, and a retried start then
 * replaced the request whose link was already mailed (test/cluster/failover.test.ts).
 */
const START_ANSWER_DEADLINE_MS = TEMPORAL_DEADLINE_MS;
/** How far the API's clock and Temporal's may disagree when a start's run is told apart by its start time. */
const CLOCK_MARGIN_MS = 1_000;
/** A link page only looks; a person should not wait longer than this to hear "try again". */
const LOOK_DEADLINE_MS = 5_000;
/** A status read checks a pending row's run this long at most, then answers from the row. */
const STATUS_CHECK_DEADLINE_MS = 2_000;

/** The API's side of the flow: re-authenticate, then start, ask or message the user's workflow. */
export class EmailChangeService {
  private readonly requests: RequestRows;
  private readonly reconciler: Reconciler;
  /** Issue #15 item 3: whether the relay takes a non-ASCII local part (asked once, then cached). */
  private readonly smtpUtf8: SmtpUtf8Support;

  constructor(
    private readonly config: Config,
    private readonly pool: pg.Pool,
    private readonly temporal: Client,
    private readonly accounts: Accounts,
    private readonly guard: ReauthGuard,
    private readonly reauth: Reauthentication,
    private readonly limits: RateLimits,
  ) {
    this.requests = new RequestRows(pool);
    this.reconciler = new Reconciler(pool, temporal);
    this.smtpUtf8 = new SmtpUtf8Support(config.smtpUtf8, config.smtpUrl, { allowInsecure: config.smtpAllowInsecure });
  }

  /**
   * R-START: re-authenticate, check the address, then start the user's workflow, replacing a pending
   * run. Starting is the only step: the run records itself (and supersedes the one it replaced), so a
   * lost reply from Temporal leaves either the old run or the new one, never a request without a run.
   */
  async start(user: User, email: EmailAddress, proof: ReauthProof, meta: { ip?: string; userAgent?: string; sessionId?: string; idempotency?: IdempotentTry }): Promise<{ change: ChangeStatus; lock: LockStatus }> {
    // Issue #13: a try retried under its Idempotency-Key after an unknown outcome (503, a crashed API) answers
    // the change the earlier try started, if it did, as the first answer would have (nothing GET would not show).
    const changeId = meta.idempotency ? changeIdFor(user.id, meta.idempotency) : randomUUID();
    if (meta.idempotency?.earlierTry) {
      const earlier = await this.earlierStart(user.id, changeId);
      if (earlier) return { change: earlier, lock: await this.guard.status(user.id) };
    }
    // Issue #15: after an undo from the previous address, no change until REVERT_LOCK passes or support lifts it.
    await assertChangesAllowed(this.pool, user.id);
    await this.assertMailable(email);
    // Issue #9: nobody floods an address (or the service) with starts; checked before a re-authentication try is spent.
    await this.limits.check('startPerUser', user.id);
    await this.limits.check('startPerAddress', email.normalized);
    // UC03: a failed biometric (or ID-token, issue #14) proof counts like a wrong password; the next request may use another method.
    await this.reauth.verify(user.id, proof);

    // Counted before the address is judged, so a start cannot serve as an unlimited "is this address taken" oracle.
    await this.limits.consume('startPerUser', user.id);
    await this.limits.consume('startPerAddress', email.normalized);

    if (user.emailVerified && user.emailNormalized === email.normalized) {
      throw new AppError(409, 'SAME_EMAIL', 'This is already your verified email address');
    }
    if (await this.accounts.isVerifiedElsewhere(email.normalized, user.id)) {
      throw new AppError(409, 'EMAIL_TAKEN', 'This email address belongs to another account');
    }

    const input: EmailChangeInput = {
      changeId,
      userId: user.id,
      kind: user.emailVerified ? 'UPDATE' : 'ADD',
      newEmail: email.address,
      newEmailNormalized: email.normalized,
      oldEmail: user.email,
      oldEmailVerified: user.emailVerified,
      confirmOld: user.emailVerified && this.config.policy.confirmOldEmail,
      requestedAt: Date.now(),
      requestedBy: { method: proof.method, ip: meta.ip, device: deviceName(meta.userAgent) },
      policy: this.config.policy,
      shape: CURRENT_SHAPE,
      ...(meta.sessionId ? { sessionId: meta.sessionId } : {}),
      verificationCode: { maxAttempts: CODE_MAX_ATTEMPTS },
    };
    const started = new WithStartWorkflowOperation('emailChange', {
      taskQueue: this.config.temporal.taskQueue,
      workflowId: workflowIdFor(user.id),
      args: [input],
      workflowIdConflictPolicy: 'TERMINATE_EXISTING',
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.userId.key, value: user.id },
        { key: SEARCH_ATTRIBUTES.state.key, value: 'REQUESTED' },
      ],
    });
    // Issue #12: start and the run's first answer in one call; the run has recorded itself (superseding the
    // request it replaced) by the time the 202 goes out, so the API needs no describe() or write of its own.
    const calledAt = Date.now();
    const change = await this.withDeadline(START_ANSWER_DEADLINE_MS, () => this.temporal.workflow.executeUpdateWithStart(recordedUpdate, { startWorkflowOperation: started })).catch(
      async (err: unknown) => {
        // The run was started and ended before it could answer: a concurrent start of the same user replaced it.
        if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return { ...statusOf(initialState(input)), state: 'SUPERSEDED' as const, reason: 'a newer request replaced this one' };
        // Started but no answer yet (busy workers, PostgreSQL slow, or a worker from before the Update): the
        // run goes on and records itself; answer as a plain start would rather than 503 for a request that exists.
        if (await within(1_000, started.workflowHandle(), () => new Error('no start')).catch(() => undefined)) return statusOf(initialState(input));
        // A run that started after this call began is this start's (or a concurrent one's, which replaces it).
        const running = await this.withDeadline(LOOK_DEADLINE_MS, () => this.handle(user.id).describe()).catch(() => undefined);
        if (running?.status.name === 'RUNNING' && running.startTime.getTime() >= calledAt - CLOCK_MARGIN_MS) return statusOf(initialState(input));
        throw err;
      },
    );
    if (change.state === 'REQUESTED') this.reconciler.sawOpen(change.id); // the run answered: open now
    return { change, lock: await this.guard.status(user.id) };
  }

  /** Issue #13: closes rows whose run ended without recording it, in the background; returns the stop function. */
  startReconciling(sweepIntervalMs: number, log: Logger): () => Promise<void> {
    return this.reconciler.startTimer(sweepIntervalMs, log);
  }

  /**
   * The change an earlier try of this start made, if it made one: its row, or the user's run, not yet
   * recorded, answering with its id (no memo: runs carry nothing a codec-less reader cannot decode).
   * Temporal out of reach: 503, never a second start that would replace the first.
   */
  private async earlierStart(userId: string, changeId: string): Promise<ChangeStatus | undefined> {
    const row = await this.requests.byId(changeId);
    if (row) {
      const current = await this.currentChange(userId);
      return current?.id === changeId ? current : rowStatus(row);
    }
    const live = await this.withDeadline(LOOK_DEADLINE_MS, () => this.handle(userId).query(statusQuery)).catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    return live?.id === changeId ? live : undefined;
  }

  /** R-STATUS: from the running workflow while it runs, from PostgreSQL after. */
  async status(userId: string): Promise<{ change: ChangeStatus | null; lock: LockStatus }> {
    // One round trip for the request and the lock (issue #12: it was two, in parallel).
    const { row, user } = await this.requests.currentWithUser<LockFacts>(userId, this.guard.lockColumns);
    return { change: await this.currentChange(userId, { row }), lock: this.guard.statusOf(user) };
  }

  /** R-LOCK: where the user's re-authentication lock stands (start and resend answer it beside the change). */
  lockStatus(userId: string): Promise<LockStatus> {
    return this.guard.status(userId);
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
    if (email.needsSmtpUtf8 && (await this.smtpUtf8.offered()) === false) return { email: email.normalized, available: false, reason: 'unsupported' as const };
    return { email: email.normalized, available: true };
  }

  /**
   * R-VERIFY: hands the workflow the token's proof; the workflow checks it against its verifier and
   * answers with the outcome. The answer shows the other address masked (the holder of one mailbox
   * learns nothing more of the account than the mail told them).
   */
  async verify(token: unknown): Promise<ChangeStatus & { alreadyConfirmed: boolean }> {
    const claims = this.claims(token);
    // No check of the run first: an Update to a run that is gone lands in onClosed below, which settles the row.
    const row = await this.requests.byId(claims.changeId);
    if (!row) throw invalidToken();
    if (row.state === 'APPROVED') return this.confirmedAnswer(row, claims, token as string);
    if (row.state !== 'REQUESTED') throw deadLink(row);
    if (claims.expiresAt <= Date.now()) throw linkExpired('expired', 'This link has expired');

    const outcome = await this.update(
      () => this.handle(row.userId).executeUpdate(verifyUpdate, { args: [{ changeId: row.id, purpose: claims.purpose, proof: proofOf(token as string) }] }),
      // A concurrent click completed the change while this one was on its way.
      async () => {
        const now = await this.settled(await this.requests.byId(row.id));
        if (now?.state === 'APPROVED') return { alreadyConfirmed: true, status: (await this.confirmedAnswer(now, claims, token as string)) as ChangeStatus };
        if (now?.state === 'REQUESTED') throw unavailable('The workflow service'); // the run did not take it; it may next time
        throw now ? deadLink(now) : invalidToken();
      },
    );
    if (outcome.status.state === 'DECLINED') throw declined(outcome.status.reason);
    return { ...maskFor(claims.purpose, outcome.status), alreadyConfirmed: outcome.alreadyConfirmed };
  }

  /**
   * Issue #15 item 7: the signed-in user typed the code of one of their pending change's mails. The
   * workflow gets the code's HMAC proofs only, decides which address it confirms and counts wrong ones.
   */
  async verifyCode(userId: string, code: string): Promise<ChangeStatus & { alreadyConfirmed: boolean }> {
    const row = await this.requests.current(userId);
    if (row?.state !== 'REQUESTED') return this.noneOpen(row);
    const outcome = await this.update(
      () => this.handle(userId).executeUpdate(verifyCodeUpdate, { args: [{ changeId: row.id, proofs: codeProofs(this.config.tokenKeys, row.id, code) }] }),
      () => this.noneOpen(row),
    );
    if (outcome.status.state === 'DECLINED') throw declined(outcome.status.reason);
    return { ...outcome.status, alreadyConfirmed: outcome.alreadyConfirmed };
  }

  /** Issue #15 item 3: a non-ASCII local part only when the relay offers SMTPUTF8; checked before a re-authentication try is spent. */
  private async assertMailable(email: EmailAddress): Promise<void> {
    if (!email.needsSmtpUtf8) return;
    const offered = await this.smtpUtf8.offered();
    if (offered === undefined) throw unavailable('The mail server');
    if (!offered) {
      throw new AppError(422, 'EMAIL_NOT_SUPPORTED', 'Our mail server cannot deliver to addresses with non-ASCII characters before the @ (it does not offer SMTPUTF8); use another address', {
        reason: 'smtputf8',
      });
    }
  }

  /** R-RESEND for the signed-in user's pending change (whatever run is open now). */
  async resend(userId: string): Promise<ChangeStatus> {
    // A resend mails the new address again: it counts toward that address's limit like a start.
    const row = await this.requests.current(userId);
    if (row?.state === 'REQUESTED') await this.limits.check('startPerAddress', row.newEmailNormalized);
    const status = await this.update(() => this.handle(userId).executeUpdate(resendUpdate, { args: [{}] }), () => this.noneOpen(row));
    await this.limits.consume('startPerAddress', row?.newEmailNormalized ?? status.newEmail.toLowerCase()).catch(() => undefined); // sent already
    return status;
  }

  /** R-LINK: "send a new link" from an expired link's page (the token's MAC must still be right). */
  async resendByToken(token: unknown): Promise<ChangeStatus> {
    const claims = this.claims(token);
    const row = await this.requests.byId(claims.changeId); // a run that is gone: settled in the Update's onClosed
    if (!row) throw invalidToken();
    if (row.state !== 'REQUESTED') throw deadLink(row);
    await this.limits.check('startPerAddress', row.newEmailNormalized);
    const status = await this.update(
      () => this.handle(row.userId).executeUpdate(resendUpdate, { args: [{ changeId: row.id }] }),
      async () => Promise.reject(deadLink((await this.settled(await this.requests.byId(row.id)).catch(() => undefined)) ?? row)),
    );
    await this.limits.consume('startPerAddress', row.newEmailNormalized).catch(() => undefined); // sent already
    return maskFor(claims.purpose, status);
  }

  /** R-CANCEL */
  async cancel(userId: string): Promise<ChangeStatus> {
    return this.update(() => this.handle(userId).executeUpdate(cancelUpdate, { args: [{}] }), async () => this.noneOpen(await this.requests.current(userId)));
  }

  /** What the link page should offer, consuming nothing; Temporal out of reach is "try again" (503), never "finished". */
  async inspectLink(token: unknown): Promise<LinkView> {
    const claims = verifyLinkToken(this.config.tokenKeys, token);
    if (!claims) return { kind: 'invalid' };
    const row = await this.settled(await this.requests.byId(claims.changeId));
    if (!row) return { kind: 'invalid' };
    if (row.state === 'APPROVED') return (await this.isConfirmedLink(row, claims, token as string)) ? { kind: 'already-confirmed' } : { kind: 'dead', reason: 'finished', canResend: false };
    if (row.state === 'DECLINED') return { kind: 'declined', code: declined(row.reason).code };
    if (row.state !== 'REQUESTED') return { kind: 'dead', reason: deadReasonOf(row.state), canResend: false };
    let check: LinkCheck;
    try {
      check = await this.withDeadline(LOOK_DEADLINE_MS, () =>
        this.handle(row.userId).query(linkQuery, { changeId: row.id, purpose: claims.purpose, proof: proofOf(token as string) }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || isClosedWorkflowError(err)) return { kind: 'dead', reason: 'finished', canResend: false };
      throw err;
    }
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
    const claims = verifyLinkToken(this.config.tokenKeys, token);
    if (!claims) throw invalidToken();
    return claims;
  }

  /** After approval only the link that confirmed, while it is unexpired, hears "already confirmed"; any other is finished. */
  private async isConfirmedLink(row: RequestRow, claims: LinkToken, token: string): Promise<boolean> {
    if (claims.expiresAt <= Date.now()) return false;
    return (await this.requests.latestVerifier(row.id, claims.purpose)) === tokenVerifier(token);
  }

  private async confirmedAnswer(row: RequestRow, claims: LinkToken, token: string): Promise<ChangeStatus & { alreadyConfirmed: boolean }> {
    if (!(await this.isConfirmedLink(row, claims, token))) throw linkExpired('finished', 'This request is finished');
    return { ...maskFor(claims.purpose, rowStatus(row)), alreadyConfirmed: true };
  }

  /** Issue #13: a REQUESTED row whose run is gone (terminated, lost) is closed before anyone acts on it. */
  private async settled(row: RequestRow | undefined, deadlineMs = LOOK_DEADLINE_MS, trustOpenForMs = 0): Promise<RequestRow | undefined> {
    return row?.state === 'REQUESTED' ? this.reconciler.settle(row, deadlineMs, trustOpenForMs) : row;
  }

  /** The user's workflow took no Update (no run, or a closed one): its row must not stay pending either. */
  private async noneOpen<T>(row: RequestRow | undefined): Promise<T> {
    await this.settled(row).catch(() => undefined); // the answer is 404 either way
    throw noPendingChange();
  }

  private handle(userId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(workflowIdFor(userId));
  }

  private withDeadline<T>(ms: number, call: () => Promise<T>): Promise<T> {
    return callTemporal(this.temporal, ms, call);
  }

  /** Sends an update; the workflow's typed refusals become R-ERR answers, a closed or missing run goes to `onClosed`. */
  private async update<T>(call: () => Promise<T>, onClosed: () => Promise<T>): Promise<T> {
    try {
      return await this.withDeadline(TEMPORAL_DEADLINE_MS, call);
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      // Not one of the workflow's own refusals: the server's, for a run that completed before it took the Update.
      if (cause instanceof ApplicationFailure && !isWorkflowRefusal(cause)) return onClosed();
      if (cause instanceof ApplicationFailure) throw fromWorkflowFailure(cause);
      if (err instanceof WorkflowNotFoundError || isClosedWorkflowError(err)) return onClosed();
      throw err;
    }
  }

  /**
   * The user's request from PostgreSQL: a final row, or a pending one (its workflow keeps it current).
   * No row is no change: a start answers only once its run has recorded itself (update-with-start), so
   * a user who never started one costs Temporal nothing. Only a SUPERSEDED row, or a row from before
   * migration 008, needs the running workflow's own view.
   */
  private async currentChange(userId: string, prefetched?: { row: CurrentRow | undefined }): Promise<ChangeStatus | null> {
    let row = prefetched ? prefetched.row : await this.requests.current(userId);
    if (!row) return null;
    if (row?.state === 'REQUESTED') {
      // A pending row whose run is gone is closed now; Temporal out of reach: the row is the answer.
      const trustMs = this.reconciler.watching ? STATUS_TRUSTS_OPEN_RUN_WATCHED_MS : STATUS_TRUSTS_OPEN_RUN_MS;
      const checked = await this.settled(row, STATUS_CHECK_DEADLINE_MS, trustMs).catch((err: unknown) => {
        if (err instanceof AppError) return row;
        throw err;
      });
      if (checked && checked.state !== 'REQUESTED') row = { ...row, ...checked };
    }
    if (row.state !== 'REQUESTED' && row.state !== 'SUPERSEDED') return rowStatus(row);
    const pending = pendingRowStatus(row);
    if (pending) return pending;
    try {
      const live = await this.withDeadline(LOOK_DEADLINE_MS, () => this.handle(userId).query(statusQuery));
      if (live.state === 'REQUESTED') return live;
    } catch (err) {
      // No run, or it cannot be asked: PostgreSQL's record is the answer.
      if (!(err instanceof WorkflowNotFoundError) && !isClosedWorkflowError(err) && !(err instanceof AppError)) throw err;
    }
    return rowStatus(row);
  }
}

/** A status read trusts "its run is open" this long: a run terminated from the UI shows as ended within it. */
const STATUS_TRUSTS_OPEN_RUN_MS = 15_000;
/**
 * Issue #12: while the closed-run watcher (Reconciler.watchClosedRuns) works, it closes the row of a
 * run that ends without recording it within seconds, so a read trusts a run seen open for longer.
 */
const STATUS_TRUSTS_OPEN_RUN_WATCHED_MS = 10 * 60_000;

const WORKFLOW_REFUSALS: readonly string[] = Object.values(FailureType);
const isWorkflowRefusal = (failure: ApplicationFailure) => failure.type != null && WORKFLOW_REFUSALS.includes(failure.type);

/** The holder of one address sees the other one masked. */
function maskFor(purpose: Purpose, status: ChangeStatus): ChangeStatus {
  return purpose === 'new'
    ? { ...status, oldEmail: status.oldEmail && maskEmail(status.oldEmail) }
    : { ...status, newEmail: maskEmail(status.newEmail) };
}

/** The change id a start under an Idempotency-Key gets: the same for every try of one use of the key (a UUID, version 8). */
export function changeIdFor(userId: string, idempotency: Pick<IdempotentTry, 'key' | 'claim'>): string {
  const hex = createHash('sha256').update(`change-id\0${userId}\0${idempotency.key}\0${idempotency.claim}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
