import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { SmtpCapture } from '../../src/dev/smtp-capture';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { bareRecordedUpdate, bareVerifyUpdate, type BareInput, type BareStatus } from '../workflows/bare-messages';
import { HttpError, request } from './http';
import { BENCH_PASSWORD, signChallenge, type BenchUser } from './users';

export type ReauthMethod = 'password' | 'biometric';

/** One complete flow's timing: `total` plus named steps, in ms. */
export interface FlowTiming {
  total: number;
  steps: Record<string, number>;
}

export interface E2EContext {
  baseUrl: string;
  smtp: SmtpCapture;
  timeoutMs: number;
}

const verificationToken = (links: string[]): string => {
  const link = links.find((l) => new URL(l).pathname === '/verify-email');
  if (!link) throw new Error('no verification link in the mail');
  return new URL(link).searchParams.get('token')!;
};

/** The `auth` of a start: the password, or a fresh challenge signed by the device (its POST is part of the start's time). */
async function reauthProof(ctx: E2EContext, user: BenchUser, method: ReauthMethod): Promise<Record<string, string>> {
  if (method === 'password') return { method, password: BENCH_PASSWORD };
  const challenge = await request(ctx.baseUrl, 'POST', '/v1/auth/challenges', { token: user.token, json: { deviceId: user.deviceId } });
  if (challenge.status !== 201) throw new HttpError('challenge', challenge);
  return { method, deviceId: user.deviceId, challengeId: challenge.body.challengeId, signature: signChallenge(challenge.body.challenge) };
}

/** POST /v1/email/change (biometric proof unless told) → the mail arrives at the SMTP capture server. */
export async function startAndAwaitMail(
  ctx: E2EContext,
  user: BenchUser,
  email: string,
  method: ReauthMethod = 'biometric',
): Promise<{ token: string; startMs: number; startToMailMs: number }> {
  const t0 = performance.now();
  // Waiting before the request: the mail can arrive before the 202 does.
  const mail = ctx.smtp.waitForMessage(email, { timeoutMs: ctx.timeoutMs });
  mail.catch(() => undefined);
  const auth = await reauthProof(ctx, user, method);
  const start = await request(ctx.baseUrl, 'POST', '/v1/email/change', { token: user.token, json: { email, auth } });
  if (start.status !== 202) throw new HttpError('start', start);
  const startMs = performance.now() - t0;
  const received = await mail;
  return { token: verificationToken(received.links), startMs, startToMailMs: performance.now() - t0 };
}

/** POST /v1/email/verify with the mail's token → APPROVED visible in GET /v1/email/change. */
export async function confirmUntilApproved(ctx: E2EContext, user: BenchUser, token: string): Promise<number> {
  const t0 = performance.now();
  const verify = await request(ctx.baseUrl, 'POST', '/v1/email/verify', { json: { token } });
  if (verify.status !== 200 || verify.body?.state !== 'APPROVED') throw new HttpError('verify', verify);
  for (let attempt = 0; ; attempt++) {
    const status = await request(ctx.baseUrl, 'GET', '/v1/email/change', { token: user.token });
    if (status.status === 200 && status.body?.change?.state === 'APPROVED') break;
    if (attempt >= 200 || performance.now() - t0 > ctx.timeoutMs) throw new HttpError('status after verify', status);
    await new Promise((r) => setTimeout(r, 25));
  }
  return performance.now() - t0;
}

/** One complete add-email change, as the app and the user do it (biometric re-authentication unless told). */
export async function e2eFlow(ctx: E2EContext, user: BenchUser, email: string, method: ReauthMethod = 'biometric'): Promise<FlowTiming> {
  const t0 = performance.now();
  const started = await startAndAwaitMail(ctx, user, email, method);
  const confirmMs = await confirmUntilApproved(ctx, user, started.token);
  return {
    total: performance.now() - t0,
    steps: { start: started.startMs, startToMail: started.startToMailMs, confirmToApproved: confirmMs },
  };
}

/**
 * One complete change of a verified address: start, a link to the new and one to the old address,
 * both confirmed (the new one first), `APPROVED` in the status. The notice to the old address is not awaited.
 */
export async function changeFlow(ctx: E2EContext, user: BenchUser, email: string, method: ReauthMethod = 'password'): Promise<FlowTiming> {
  if (!user.email) throw new Error('a change needs a user with a verified address');
  const t0 = performance.now();
  const mails = [ctx.smtp.waitForMessage(email, { timeoutMs: ctx.timeoutMs }), ctx.smtp.waitForMessage(user.email, { timeoutMs: ctx.timeoutMs })];
  mails.forEach((m) => m.catch(() => undefined));
  const auth = await reauthProof(ctx, user, method);
  const start = await request(ctx.baseUrl, 'POST', '/v1/email/change', { token: user.token, json: { email, auth } });
  if (start.status !== 202) throw new HttpError('start', start);
  const startMs = performance.now() - t0;
  const [toNew, toOld] = await Promise.all(mails);
  const mailAt = performance.now();
  const first = await request(ctx.baseUrl, 'POST', '/v1/email/verify', { json: { token: verificationToken(toNew!.links) } });
  if (first.status !== 200 || first.body?.state !== 'REQUESTED') throw new HttpError('verify new', first);
  const confirmMs = await confirmUntilApproved(ctx, user, verificationToken(toOld!.links));
  return { total: performance.now() - t0, steps: { start: startMs, startToMail: mailAt - t0, confirmToApproved: confirmMs } };
}

type BareMail = { changeId: string; userId: string; tokenHash: string };

/** Where the bare worker's no-op "send mail" activity reports (the engine-bound flows wait here). */
export class BareMailbox {
  private readonly waiters = new Map<string, (mail: BareMail) => void>();
  private readonly early = new Map<string, BareMail>();

  deliver = (mail: BareMail): void => {
    const waiter = this.waiters.get(mail.changeId);
    if (waiter) {
      this.waiters.delete(mail.changeId);
      waiter(mail);
    } else if (this.early.size < 10_000) {
      this.early.set(mail.changeId, mail);
    }
  };

  wait(changeId: string, timeoutMs: number): Promise<BareMail> {
    const early = this.early.get(changeId);
    if (early) {
      this.early.delete(changeId);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(changeId);
        reject(new Error(`no bare mail for ${changeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(changeId, (mail) => {
        clearTimeout(timer);
        resolve(mail);
      });
    });
  }
}

/**
 * The engine bound's flow: the same Temporal calls as the API makes for one change (start with
 * the two search attributes and TERMINATE_EXISTING; one `verify` Update once the "mail" is out).
 * `mailFloorEmailChange` (the engine minimum plus the mail activity) is driven the same way;
 * `addShapeEmailChange` is started as the API starts an add, by update-with-start.
 */
export async function bareFlow(client: Client, taskQueue: string, mailbox: BareMailbox, timeoutMs: number, workflowType: 'bareEmailChange' | 'mailFloorEmailChange' | 'addShapeEmailChange' = 'bareEmailChange'): Promise<FlowTiming> {
  const t0 = performance.now();
  const userId = randomUUID();
  const changeId = randomUUID();
  const mail = mailbox.wait(changeId, timeoutMs);
  mail.catch(() => undefined);
  const input: BareInput = {
    changeId,
    userId,
    newEmail: `bare.${changeId}@bench.example.com`,
    padding: 'x'.repeat(300),
    changeTtlMs: 24 * 3_600_000,
  };
  const options = {
    taskQueue,
    workflowId: `bare-${userId}`,
    args: [input] as [BareInput],
    workflowIdConflictPolicy: 'TERMINATE_EXISTING' as const,
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.userId.key, value: userId },
      { key: SEARCH_ATTRIBUTES.state.key, value: 'REQUESTED' },
    ],
  };
  let handle;
  if (workflowType === 'addShapeEmailChange') {
    const started = new WithStartWorkflowOperation(workflowType, options);
    await client.workflow.executeUpdateWithStart(bareRecordedUpdate, { startWorkflowOperation: started });
    handle = await started.workflowHandle();
  } else {
    handle = await client.workflow.start(workflowType, options);
  }
  const startMs = performance.now() - t0;
  const { tokenHash } = await mail;
  const mailAt = performance.now();
  const result: BareStatus = await handle.executeUpdate(bareVerifyUpdate, { args: [{ changeId, tokenHash }] });
  if (result.state !== 'APPROVED') throw new Error(`bare flow ended ${result.state}`);
  const end = performance.now();
  return { total: end - t0, steps: { start: startMs, startToMail: mailAt - t0, confirmToApproved: end - mailAt } };
}

/**
 * The cheapest shape that still gives a change's guarantees (bench/workflows/bare-email-change.ts's
 * `minimalEmailChange`): start (TERMINATE_EXISTING, both search attributes), one `verify` Update, the
 * durable deadline timer, completion. No activity: what no implementation of the flow can go below.
 */
export async function minimalFlow(client: Client, taskQueue: string): Promise<FlowTiming> {
  const t0 = performance.now();
  const userId = randomUUID();
  const changeId = randomUUID();
  const input: BareInput = { changeId, userId, newEmail: `bare.${changeId}@bench.example.com`, padding: 'x'.repeat(300), changeTtlMs: 24 * 3_600_000 };
  const handle = await client.workflow.start('minimalEmailChange', {
    taskQueue,
    workflowId: `bare-${userId}`,
    args: [input],
    workflowIdConflictPolicy: 'TERMINATE_EXISTING',
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.userId.key, value: userId },
      { key: SEARCH_ATTRIBUTES.state.key, value: 'REQUESTED' },
    ],
  });
  const startMs = performance.now() - t0;
  const result: BareStatus = await handle.executeUpdate(bareVerifyUpdate, { args: [{ changeId, tokenHash: `hash-${changeId}` }] });
  if (result.state !== 'APPROVED') throw new Error(`minimal flow ended ${result.state}`);
  const end = performance.now();
  return { total: end - t0, steps: { start: startMs, startToMail: startMs, confirmToApproved: end - t0 - startMs } };
}
