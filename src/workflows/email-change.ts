import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  cancelUpdate,
  FailureType,
  linkQuery,
  recordedUpdate,
  resendUpdate,
  statusQuery,
  verifyUpdate,
  type ChangeStateName,
  type ChangeStatus,
  type EmailChangeInput,
  type ChangeRef,
  type LinkDeadReason,
  type PreparedLink,
  type Purpose,
  type SendOutcome,
  type StartedRequest,
  type VerifyRequest,
  messageKeyOf,
  shapeOf,
} from './messages';
import { SEARCH_ATTRIBUTES } from './search-attributes';
import { verifierOf } from './link-proof';
import {
  allConfirmed,
  applyRecorded,
  deadlineOf,
  initialState,
  requiredLinks,
  resendAvailableAt,
  resendsLeft,
  statusOf,
  type ChangeState,
  type LinkState,
} from './state';
import { startWebhooks, webhooksDelivered, withWebhooks } from './webhooks';
import { adoptOpenWindows, adoptRevertWindows, holdRevertWindows, openRevertWindow, revertWindowEnd, revertWindowOpened, startRevertWindows, windowsOn } from './revert-window';
import { remindBeforeExpiry, tellLapsed, untilDecided } from './reminder';
import { linksInFlight, makeLinks } from './links-in-flight';
import { dbOptions, localDbOf, type LocalDb } from './local-db';
import { codeIssued, codesOn, handleTypedCodes, replaceCode } from './typed-code';

// Runs started before `input.shape` 2 scheduled them as regular activities; they replay and go on that way.
const remoteDb = proxyActivities<Activities>(dbOptions);
type Db = LocalDb;
// One SMTP try per activity: the workflow retries itself, so `delivery` can show each retry.
const smtp = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } });
const notices = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12, nonRetryableErrorTypes: ['SMTP_PERMANENT'] },
});

const MAIL_MAX_ATTEMPTS = 12;
/**
 * Runs started with it stop retrying a verification mail whose link has expired meanwhile (the mail
 * would carry a dead link) and show the send as failed, so the user asks for a fresh one; runs
 * recorded before it replay without it. Once no run started before it is open (EMAIL_CHANGE_TTL
 * after its deploy), turn it into deprecatePatch(); remove that once those histories are past retention.
 */
export const SKIP_EXPIRED_LINK_MAIL = 'skip-expired-link-mail';
const mailBackoffMs = (attempt: number) => Math.min(2 ** (attempt - 1) * 2_000, 5 * 60_000);

/**
 * One email add/change request (SPEC §3), from REQUESTED to its outcome:
 * record it, mail a link to every address that must confirm, then wait for every
 * confirmation, a cancel or the deadline, and apply, cancel or expire.
 */
export async function emailChange(input: EmailChangeInput): Promise<ChangeStatus> {
  const s = initialState(input);
  const shape = shapeOf(input); // not patched(): its TemporalChangeVersion upsert would cost every run a visibility write
  const local = shape >= 2;
  startWebhooks(s); // issue #14: only runs whose policy has webhooks
  const db = withWebhooks(s, local ? localDbOf(s) : remoteDb);
  startRevertWindows(s); // issue #15 item 4: only runs whose policy has an undo window

  // R-STATUS
  setHandler(statusQuery, () => statusOf(s));
  setHandler(linkQuery, (link) => {
    try {
      checkLink(s, link);
      return { ok: true, confirmed: s.links[link.purpose]?.confirmedAt != null };
    } catch (err) {
      const failure = err as ApplicationFailure;
      const reason = (failure.details?.[0] as { reason?: LinkDeadReason } | undefined)?.reason;
      return { ok: false, type: failure.type ?? FailureType.invalidToken, reason, message: failure.message };
    }
  });

  // R-VERIFY, R-OLD: a link's proof (or its typed code, issue #15 item 7) confirms its purpose; the last confirmation waits for the outcome.
  const confirm = async (purpose: Purpose) => {
    const link = s.links[purpose]!;
    const alreadyConfirmed = link.confirmedAt !== null;
    if (!alreadyConfirmed) link.confirmedAt = Date.now();
    if (allConfirmed(s)) await condition(() => s.state !== 'REQUESTED');
    // The status row shows a first confirmation at once (applyEmailChange records the last one).
    else if (!alreadyConfirmed && local) await db.recordConfirmation({ changeId: input.changeId, purpose, confirmedAt: link.confirmedAt! });
    return { alreadyConfirmed, status: statusOf(s) };
  };
  setHandler(verifyUpdate, ({ purpose }) => confirm(purpose), { validator: (link) => checkLink(s, link) });
  handleTypedCodes(s, confirm);

  // R-RESEND: fresh links for the unconfirmed addresses; the old links stop working at once.
  setHandler(
    resendUpdate,
    async () => {
      const joined = linksInFlight(s); // fresh links being made in this task (the reminder's, another resend's) answer it, uncounted
      if (joined) await joined;
      else {
        s.resends += 1;
        s.lastSendAt = Date.now();
        await issueLinks(s, requiredLinks(s).filter((l) => l.confirmedAt === null), db);
      }
      return statusOf(s);
    },
    { validator: (ref) => checkResend(s, ref) },
  );

  // R-CANCEL
  setHandler(
    cancelUpdate,
    async () => {
      s.cancelRequested = true;
      await condition(() => s.state !== 'REQUESTED');
      return statusOf(s);
    },
    { validator: (ref) => checkOpen(s, ref) },
  );

  // R-START: record the request, deciding ADD or UPDATE under the user's row lock; a newer run may have replaced this one.
  // The API starts the run with this Update (issue #12): its 202 waits until the request is recorded and
  // its links made (all in the first workflow task), or the run found itself superseded.
  let linksMade = false;
  setHandler(recordedUpdate, async () => {
    await condition(() => linksMade || s.state !== 'REQUESTED');
    return statusOf(s);
  });
  const runStartedAt = workflowInfo().runStartTime.getTime();
  // Shape 3: recorded, its first links prepared and open undo windows found in one local activity.
  const recorded = shape >= 3 ? await db.startRequest(input, runStartedAt, { code: codesOn(s), windows: windowsOn(s) }) : await db.recordRequest(input, runStartedAt);
  if (!recorded.recorded) return finish(s, db, 'SUPERSEDED', 'a newer request replaced this one');
  applyRecorded(s, recorded);
  if (shape >= 3) {
    const started = recorded as StartedRequest;
    deliverAll(s, requiredLinks(s).map((l) => linkPrepared(s, l, nextSend(s, l), started.links[l.purpose]!)));
    adoptOpenWindows(s, started.openWindows); // issue #15: undo windows of the run this start replaced stay open here
    linksMade = true;
  } else {
    await issueLinks(s, requiredLinks(s), db);
    linksMade = true;
    await adoptRevertWindows(s);
  }

  // Wait for every required confirmation, a cancel, or the deadline (R-EXPIRE); issue #15 item 6's reminder on the way.
  const reissue = (links: LinkState[]) => issueLinks(s, links, db);
  let decided: boolean;
  if (shape >= 3) decided = await untilDecided(s, reissue);
  else {
    void remindBeforeExpiry(s, reissue);
    decided = await condition(() => allConfirmed(s) || s.cancelRequested, Math.max(1, deadlineOf(s) - Date.now()));
  }

  if (s.cancelRequested) return holdRevertWindows(s, await finish(s, db, 'CANCELLED', 'cancelled by the user'));
  if (!decided) {
    const expired = await finish(s, db, 'EXPIRED', 'not confirmed before the request expired');
    await tellLapsed(s);
    return holdRevertWindows(s, expired);
  }

  // R-VERIFY, R-CONFLICT: apply in one transaction; a race for the address may decline it.
  const tellsOld = Boolean(recorded.oldEmail && recorded.oldEmailVerified);
  // Shape 3: the undo window's link is made in the approval's transaction (issue #15; one local activity less).
  const revertUntil = shape >= 3 && tellsOld ? revertWindowEnd(s) : undefined;
  const applied = await db.applyEmailChange({ changeId: input.changeId, userId: input.userId, progress: progressOf(s), ...sessionsToRevoke(s), ...(revertUntil ? { revertUntil } : {}) });
  const result = await close(s, applied.state, applied.reason);
  // R-OLD: the old verified address hears of the change (never a token); failing to tell it does not undo it.
  if (applied.state === 'APPROVED' && tellsOld) {
    if (revertUntil) revertWindowOpened(s, revertUntil, applied.revert);
    else if (shape < 3) await openRevertWindow(s); // issue #15: the notice then carries the undo link
    await notices.sendChangedNotice({ changeId: input.changeId }).catch(() => undefined);
  }
  return holdRevertWindows(s, result);
}

/** Issue #15 item 5: an approved change of a verified address revokes every other session (the requesting one stays). */
const sessionsToRevoke = (s: ChangeState) =>
  s.input.policy.revokeSessionsOnChange && s.kind === 'UPDATE' ? { revokeSessions: { keepSessionId: s.input.sessionId ?? null } } : {};

/** Fresh links for these addresses (a resend, the reminder), mailed in the background; shape 4 mails a change's two in one activity. */
async function issueLinks(s: ChangeState, links: LinkState[], db: Db): Promise<void> {
  if (shapeOf(s.input) < 4) await Promise.all(links.map(async (l) => void deliver(s, await prepareLink(s, l, db))));
  // Fresh links already being made in this task (a resend's, the reminder's) are these too: join them.
  else await (linksInFlight(s) ?? makeLinks(s, async () => deliverAll(s, await Promise.all(links.map((l) => prepareLink(s, l, db))))));
}

/** Creates a link; only its verifier comes back. */
async function prepareLink(s: ChangeState, link: LinkState, db: Db): Promise<Send> {
  const messageKey = nextSend(s, link);
  const { changeId, policy } = s.input;
  const code = codesOn(s) ? { code: true } : {}; // issue #15 item 7: the mail carries a typed code too
  const prepared = await db.prepareVerificationLink({ messageKey, changeId, purpose: link.purpose, to: link.to, linkTtlMs: policy.linkTtlMs, resends: s.resends, lastSendAt: s.lastSendAt, ...code });
  return linkPrepared(s, link, messageKey, prepared);
}

/** A new send of this link begins: the current link (and its code) stops working; returns the send's outbox key. */
function nextSend(s: ChangeState, link: LinkState): string {
  if (link.verifier) link.replacedVerifiers.push(link.verifier);
  link.verifier = null;
  replaceCode(s, link);
  link.sends += 1;
  link.delivery = { status: 'sending', attempts: 0 };
  return messageKeyOf(s.input.changeId, link.purpose, link.sends);
}

/** One send of a link: its outbox key and which send of the link it is. */
interface Send {
  link: LinkState;
  messageKey: string;
  sendNo: number;
}

/**
 * The prepared link is the current one; its mail is for the caller to deliver. That holds only while a
 * link's sends never overlap (the send number is read here, not when the send began): since
 * JOIN_LINKS_IN_FLIGHT they do not in new runs, and runs that overlapped before it replay as they ran.
 */
function linkPrepared(s: ChangeState, link: LinkState, messageKey: string, prepared: PreparedLink): Send {
  link.verifier = prepared.verifier;
  codeIssued(s, link, prepared.codeVerifier);
  link.linkExpiresAt = prepared.linkExpiresAt;
  return { link, messageKey, sendNo: link.sends };
}

/** Links' mails that go out at once, in the background: shape 4 sends a change's two in one activity, older shapes one activity each. */
function deliverAll(s: ChangeState, sends: Send[]): void {
  // Only mails still wanted go together (a resend's links may be confirmed or expired by the time both are made).
  const wanted = shapeOf(s.input) >= 4 ? sends.filter((send) => isCurrent(s, send) && !linkExpired(send.link)) : [];
  const together = wanted.length > 1 ? wanted : [];
  if (together.length > 0) void deliverTogether(s, together);
  // The rest one activity each; a send no longer wanted ends at once in deliver (an expired one is recorded as given up).
  for (const send of sends.filter((x) => !together.includes(x))) void deliver(s, send);
}

/** This send is the link's latest, and the link still waits for its confirmation on a pending request. */
const isCurrent = (s: ChangeState, { link, sendNo }: Send) => link.sends === sendNo && s.state === 'REQUESTED' && link.confirmedAt === null;
const linkExpired = (link: LinkState) => link.linkExpiresAt !== null && Date.now() >= link.linkExpiresAt;

/** Shape 4 (issue #12): attempt 1 of a change's two mails in one activity (one activity and one workflow task less); each retries alone. */
async function deliverTogether(s: ChangeState, sends: Send[]): Promise<void> {
  for (const { link } of sends) link.delivery = { ...link.delivery, attempts: 1 };
  s.sendsInFlight += 1;
  const mails = sends.map(({ link, messageKey, sendNo }) => ({ messageKey, purpose: link.purpose, ...(link.reminderSend === sendNo ? { reminder: true } : {}) }));
  const outcomes = await smtp
    .sendVerificationMails({ input: s.input, kind: s.kind, mails })
    .catch((err: unknown) => sends.map(() => failedAttempt(err))) // the activity itself failed (a timeout, a lost worker): every mail's attempt did
    .finally(() => (s.sendsInFlight -= 1));
  await Promise.all(sends.map(async (send, i) => (await tryAgain(send, 1, outcomes[i] ?? failedAttempt(new Error('no outcome')))) && deliver(s, send, 2)));
}

async function deliver(s: ChangeState, send: Send, firstAttempt = 1): Promise<void> {
  const { link, messageKey, sendNo } = send;
  const skipExpired = shapeOf(s.input) >= 3 || patched(SKIP_EXPIRED_LINK_MAIL); // shape 3 always does, without the patch's marker
  for (let attempt = firstAttempt; isCurrent(s, send); attempt++) {
    if (skipExpired && linkExpired(link)) {
      const lastError = 'the link expired before the mail could be sent; ask for a new link';
      link.delivery = { status: 'failed', attempts: attempt - 1, lastError };
      // The status row (issue #12's projection) must say so too; older shapes answer status from this run.
      if (shapeOf(s.input) >= 2) await localDbOf(s).recordMailGivenUp({ messageKey, reason: lastError });
      return;
    }
    link.delivery = { ...link.delivery, attempts: attempt };
    s.sendsInFlight += 1;
    const lastTry = attempt >= MAIL_MAX_ATTEMPTS;
    const reminder = link.reminderSend === sendNo ? { reminder: true } : {}; // issue #15 item 6
    const outcome = await smtp
      .sendVerificationMail({ messageKey, input: s.input, kind: s.kind, purpose: link.purpose, lastTry, ...reminder })
      .then(({ sentAt }): SendOutcome => ({ sentAt }), failedAttempt)
      .finally(() => (s.sendsInFlight -= 1));
    if (!(await tryAgain(send, attempt, outcome))) return;
  }
}

/** An attempt's failure as the run shows it: the activity's own message when it failed itself. */
function failedAttempt(err: unknown): SendOutcome {
  const failure = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return { error: failure?.message ?? (err instanceof Error ? err.message : String(err)), nonRetryable: failure?.nonRetryable ?? false };
}

/** Records an attempt's outcome on its link; true, after the backoff, when the mail is to be tried again. */
async function tryAgain({ link, sendNo }: Send, attempt: number, outcome: SendOutcome): Promise<boolean> {
  if (link.sends !== sendNo) return false; // a newer send of this link took over
  if ('sentAt' in outcome) {
    link.delivery = { status: 'sent', attempts: attempt, sentAt: outcome.sentAt };
    return false;
  }
  if (outcome.nonRetryable || attempt >= MAIL_MAX_ATTEMPTS) {
    link.delivery = { status: 'failed', attempts: attempt, lastError: outcome.error };
    return false;
  }
  link.delivery = { status: 'retrying', attempts: attempt, lastError: outcome.error };
  await sleep(mailBackoffMs(attempt));
  return true;
}

function checkOpen(s: ChangeState, ref: ChangeRef): void {
  if (ref.changeId !== undefined && ref.changeId !== s.input.changeId) throw linkDead('superseded', 'A newer request replaced this one');
  if (s.state !== 'REQUESTED' || s.cancelRequested || Date.now() >= deadlineOf(s)) {
    throw ApplicationFailure.create({ type: FailureType.notPending, message: 'This request is no longer pending', nonRetryable: true });
  }
  if (allConfirmed(s)) {
    throw ApplicationFailure.create({ type: FailureType.beingApplied, message: 'Every address is confirmed; the change is being applied', nonRetryable: true });
  }
}

function linkDead(reason: LinkDeadReason, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.linkExpired, message, details: [{ reason }], nonRetryable: true });
}

/** R-TOKEN: only the current link of its purpose, unexpired, on an open request; checked here, not by the caller. */
function checkLink(s: ChangeState, { changeId, purpose, proof }: VerifyRequest): void {
  if (changeId !== s.input.changeId) throw linkDead('superseded', 'A newer request replaced this one');
  const link = s.links[purpose];
  if (!link || typeof proof !== 'string') throw ApplicationFailure.create({ type: FailureType.invalidToken, message: 'This link is not valid', nonRetryable: true });
  const verifier = verifierOf(proof);
  if (link.confirmedAt !== null && link.verifier === verifier) return; // a second click is harmless
  if (link.replacedVerifiers.includes(verifier)) throw linkDead('resent', 'A newer link was sent; use the latest email');
  if (link.verifier === null || link.verifier !== verifier) throw ApplicationFailure.create({ type: FailureType.invalidToken, message: 'This link is not valid', nonRetryable: true });
  if (s.cancelRequested) throw linkDead('cancelled', 'This request was cancelled');
  if (Date.now() >= deadlineOf(s)) throw linkDead('expired', 'This request has expired');
  if (link.linkExpiresAt !== null && Date.now() >= link.linkExpiresAt) throw linkDead('expired', 'This link has expired');
}

function checkResend(s: ChangeState, ref: ChangeRef): void {
  checkOpen(s, ref);
  if (resendsLeft(s) === 0) {
    const retryAfterMs = deadlineOf(s) - Date.now();
    throw ApplicationFailure.create({ type: FailureType.rateLimited, message: 'No resends left for this request; start a new one', details: [{ retryAfterMs, resendsLeft: 0 }], nonRetryable: true });
  }
  const waitMs = resendAvailableAt(s) - Date.now();
  if (waitMs > 0) {
    throw ApplicationFailure.create({ type: FailureType.rateLimited, message: 'Wait before asking for another link', details: [{ retryAfterMs: waitMs }], nonRetryable: true });
  }
}

const progressOf = (s: ChangeState) => ({
  newConfirmedAt: s.links.new.confirmedAt,
  oldConfirmedAt: s.links.old?.confirmedAt ?? null,
  resends: s.resends,
  delivery: statusOf(s).delivery,
});

/** Ends without applying: records the final state in PostgreSQL, then closes the run. */
async function finish(s: ChangeState, db: Db, state: Exclude<ChangeStateName, 'REQUESTED' | 'APPROVED'>, reason: string): Promise<ChangeStatus> {
  const final = await db.markFinished({ changeId: s.input.changeId, state, reason, progress: progressOf(s) });
  return close(s, final.state, final.reason);
}

async function close(s: ChangeState, state: ChangeStateName, reason: string | null): Promise<ChangeStatus> {
  s.state = state;
  s.reason = reason;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.state.key, value: state }]);
  await condition(allHandlersFinished); // let waiting verify/cancel updates answer first
  // Completing in the task that ran the outcome's local activity while a send's completion may arrive would
  // fail that task (UnhandledCommand), and with it the Update answered in it: complete once the sends are back.
  if (shapeOf(s.input) >= 2) await condition(() => s.sendsInFlight === 0);
  await webhooksDelivered(s); // issue #14: completes once its events reached the receiver (or delivery gave up)
  return statusOf(s);
}
