import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF, startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { deviceName } from '../../src/mail/device-name';
import { resolveTemporalCli } from '../../src/dev/temporal';
import { EncryptionCodec, keyIdOf } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace, payloadsIn } from '../../src/codec/history-payloads';
import { workflowIdFor } from '../../src/workflows/messages';
import { SKIP_EXPIRED_LINK_MAIL } from '../../src/workflows/email-change';

/**
 * Issue #10: nothing personal in Temporal in plain text. Each run's history is read as an operator
 * without the key reads it (the Temporal CLI, and the SDK with no codec): no address, username,
 * token, password, client IP, user agent (nor the device name the API derives from it) or failure
 * message shows; with PAYLOAD_KEYS the same history decodes.
 */
/** A real desktop browser's User-Agent, sent on the complete change's start. */
const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const KEY_ID = `priv${randomBytes(3).toString('hex')}`;
let stack: TestStack;
let api: ApiClient;
let bare: Client;
beforeAll(async () => {
  // REVERT_WINDOW=0: the complete change's run closes at once (issue #15's undo window would hold it open 7 days).
  stack = await startStack({ PAYLOAD_KEYS: `${KEY_ID}:${randomBytes(32).toString('base64')}`, REVERT_WINDOW: '0' });
  api = apiClient(stack.baseUrl);
  bare = new Client({ connection: await Connection.connect({ address: stack.config.temporal.address! }), namespace: stack.config.temporal.namespace });
});
afterAll(async () => {
  await bare?.connection.close();
  await stack?.stop();
});

const run = promisify(execFile);

/** `temporal workflow show -o json`, as an operator types it, plus every base64 value in it decoded. */
async function historyFromCli(workflowId: string): Promise<string> {
  const cli = resolveTemporalCli(process.env.TEMPORAL_CLI_PATH);
  const { stdout } = await run(cli.path, ['workflow', 'show', '-w', workflowId, '-o', 'json', '--address', stack.config.temporal.address!, '--namespace', stack.config.temporal.namespace], { maxBuffer: 16 << 20 });
  expect(stdout).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
  const base64 = [...stdout.matchAll(/"([A-Za-z0-9+/]{8,}={0,2})"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
  return [stdout, ...base64].join('\n');
}

/** Every string in a value, byte strings (payload data, metadata) as UTF-8 and as base64. */
function textOf(value: unknown): string {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) found.push(Buffer.from(v).toString('utf8'), Buffer.from(v).toString('base64'));
    else if (typeof v === 'string') found.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return found.join('\n');
}

/** The SDK's history with no codec (fetchHistory never decodes), and all its text. */
async function rawHistory(workflowId: string) {
  const history = await bare.workflow.getHandle(workflowId).fetchHistory();
  return { history, text: textOf(history) };
}

/**
 * Where each payload sits, and its key id: every payload but the search attributes' and the SDK core's
 * marker metadata (a local activity's type, attempt and times: every marker detail but `result`) is ours.
 */
function payloadKeyIds(history: Awaited<ReturnType<typeof rawHistory>>['history']) {
  const events = history.events ?? [];
  const attributes = new Set<Payload>(
    payloadsIn(events.map((e) => [e.workflowExecutionStartedEventAttributes?.searchAttributes, e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes])).map((p) => p.payload),
  );
  const markers = new Set<Payload>(
    payloadsIn(events.map((e) => Object.entries(e.markerRecordedEventAttributes?.details ?? {}).filter(([k]) => k !== 'result').map(([, v]) => v))).map((p) => p.payload),
  );
  const others = payloadsIn(history).filter(({ payload }) => !attributes.has(payload) && !markers.has(payload));
  return { attributes: [...attributes], markers: [...markers], keyIds: others.map(({ payload }) => keyIdOf(payload)) };
}

/** What an operator without the key reads: none of `secrets`, the input encrypted, every failure message encoded. */
async function expectPrivate(user: TestUser, secrets: string[]) {
  const workflowId = workflowIdFor(user.id);
  const cli = await historyFromCli(workflowId);
  const { history, text } = await rawHistory(workflowId);
  for (const secret of [...secrets, user.username, user.password]) {
    expect(cli, 'CLI history').not.toContain(secret);
    expect(text, 'SDK history without codec').not.toContain(secret);
  }
  // The API records the client's IP in the input; 127.0.0.1 appears nowhere in plain, nor does the input.
  expect(cli).not.toContain('127.0.0.1');
  expect(text).not.toContain('127.0.0.1');
  const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
  expect(keyIdOf(started.input!.payloads![0]!)).toBe(KEY_ID);
  const { attributes, markers, keyIds } = payloadKeyIds(history);
  expect(keyIds.length).toBeGreaterThan(3);
  expect(new Set(keyIds)).toEqual(new Set([KEY_ID]));
  // Search attributes are not encoded: they hold the user id and the state only.
  // (And core's TemporalChangeVersion: the ids of the workflow's patches, constants of our code.)
  const isPatchList = (v: unknown) => Array.isArray(v) && v.every((id) => id === SKIP_EXPIRED_LINK_MAIL);
  for (const p of attributes) expect(JSON.parse(Buffer.from(p.data!).toString('utf8'))).toSatisfy((v: unknown) => v === user.id || /^[A-Z_]+$/.test(String(v)) || isPatchList(v));
  // A local activity's marker metadata is the SDK core's: its type, attempt and times, nothing of ours.
  // A patch marker (patched()) holds the patch id and its deprecated flag.
  for (const p of markers) {
    const detail = JSON.parse(Buffer.from(p.data!).toString('utf8')) as Record<string, unknown>;
    if ('deprecated' in detail) expect(detail).toEqual({ id: SKIP_EXPIRED_LINK_MAIL, deprecated: false });
    else expect(Object.keys(detail).sort()).toEqual(['activity_id', 'activity_type', 'attempt', 'backoff', 'complete_time', 'original_schedule_time', 'seq']);
  }
  // Failures: the message and stack are in the encrypted attributes.
  const failures = JSON.stringify(history.events!.map((e) => e.activityTaskFailedEventAttributes?.failure ?? e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.failure).filter(Boolean));
  for (const m of failures.matchAll(/"message":"([^"]*)"/g)) expect(m[1]).toBe('Encoded failure');
  return history;
}

/** The same history decoded with PAYLOAD_KEYS, as text. */
async function decodedText(history: Awaited<ReturnType<typeof rawHistory>>['history']) {
  return textOf(await decodeHistoryInPlace(history, new EncryptionCodec(stack.config.payloadKeys)));
}

describe('histories hold nothing personal in plain text (issue #10)', () => {
  it('a complete change with the old address confirming: no address, username, IP, user agent or token without the key', async () => {
    const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, 'priv-old');
    const newEmail = uniqueEmail('priv-new');
    // Started from a browser: the API records the device name it derives from the User-Agent (src/mail/device-name.ts).
    const device = deviceName(BROWSER_UA)!;
    expect(device).toBe('Chrome on Windows');
    const started = await api.post('/v1/email/change', { token: user.token, headers: { 'user-agent': BROWSER_UA }, json: { email: newEmail, auth: PASSWORD_PROOF(user) } });
    expect(started.status, started.text).toBe(202);
    const change = started.body.change;
    const newToken = await tokenFromMail(stack.smtp, newEmail);
    const oldToken = await tokenFromMail(stack.smtp, oldEmail, 1);
    expect((await api.post('/v1/email/verify', { json: { token: newToken } })).status).toBe(200);
    expect((await api.post('/v1/email/verify', { json: { token: oldToken } })).body).toMatchObject({ state: 'APPROVED' });
    expect(await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).result()).toMatchObject({ id: change.id, state: 'APPROVED' });
    await stack.smtp.waitForMessage(oldEmail, { seen: 2 }); // the notice

    const history = await expectPrivate(user, [newEmail, oldEmail, newToken, oldToken, device, 'Windows NT 10.0', 'Chrome/131']);
    const text = await decodedText(history);
    expect(text).toContain(newEmail);
    expect(text).toContain(oldEmail);
    expect(text).toContain('"ip":"127.0.0.1"');
    // The run recorded who asked (decodable with the key), as the device name only, never the raw User-Agent.
    expect(text).toContain(`"device":"${device}"`);
    expect(text).not.toContain('Windows NT 10.0');
    expect(text).not.toContain(newToken);
  });

  it('a cancelled change', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('priv-cancel');
    await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    const res = await api.delete('/v1/email/change', { token: user.token });
    expect(res.body.change.state).toBe('CANCELLED');
    await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).result();

    const history = await expectPrivate(user, [email, token]);
    expect(await decodedText(history)).toContain(email);
  });

  it('a mail the server refused (SMTP 550): the error text, which names the address, is encrypted too', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('priv-550');
    const reason = `550 5.1.1 <${email}>: Recipient address rejected: mailbox unavailable-${randomBytes(3).toString('hex')}`;
    stack.smtp.failNext(1, 550, reason);
    await startChange(api, user, email);
    await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'failed');

    const history = await expectPrivate(user, [email, 'Recipient address rejected', 'mailbox unavailable']);
    const failed = history.events!.find((e) => e.activityTaskFailedEventAttributes)!.activityTaskFailedEventAttributes!.failure!;
    expect(failed).toMatchObject({ message: 'Encoded failure', stackTrace: '' });
    expect(failed.applicationFailureInfo?.type).toBe('SMTP_PERMANENT'); // the type is no secret: ops can search by it
    const text = await decodedText(history);
    expect(text).toContain('Recipient address rejected');
    expect(text).toContain(email);
    await api.delete('/v1/email/change', { token: user.token });
  });
});
