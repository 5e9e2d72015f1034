import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { EncryptionCodec, keyIdOf } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace, payloadsIn } from '../../src/codec/history-payloads';
import { parsePayloadKeys, type PayloadKey } from '../../src/codec/payload-keys';
import { workflowIdFor } from '../../src/workflows/messages';
import { serviceEnv, startApi, startInProcessWorker, eventually, type FaultApi, type InProcessWorker } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';

/**
 * Issue #10: rotating PAYLOAD_KEYS under running changes, the operator's `payload-keys in-use`
 * command, and crypto-shredding (a run whose key is gone cannot be read by anyone).
 */
const tag = randomBytes(3).toString('hex');
const A = `a${tag}:${randomBytes(32).toString('base64')}`;
const B = `b${tag}:${randomBytes(32).toString('base64')}`;
const idOf = (entry: string) => entry.split(':')[0]!;
const keys = (text: string) => parsePayloadKeys(text) as PayloadKey[];

let smtp: SmtpCapture;
let env: Record<string, string>;
let api: FaultApi | undefined;
let worker: InProcessWorker | undefined;
let http: ApiClient;
let bare: Client;

/** API and worker (re)started with this PAYLOAD_KEYS, on the same port and task queue. */
async function restart(payloadKeys: string) {
  await api?.stop();
  await worker?.stop();
  worker = await startInProcessWorker({ ...env, PAYLOAD_KEYS: payloadKeys });
  api = await startApi({ ...env, PAYLOAD_KEYS: payloadKeys });
}

beforeAll(async () => {
  smtp = await startSmtpCapture();
  env = serviceEnv({ smtpUrl: smtp.url, port: await freePort() });
  await restart(A);
  http = apiClient(api!.baseUrl);
  bare = new Client({ connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS! }) });
});
afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await bare?.connection.close();
  await smtp?.stop();
});

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

/** `npm run payload-keys -- in-use` as an operator runs it, with the service's environment. */
async function inUse(payloadKeys: string): Promise<Map<string, string>> {
  const { stdout } = await run('npm', ['run', '--silent', 'payload-keys', '--', 'in-use'], { cwd: ROOT, env: { ...process.env, ...env, PAYLOAD_KEYS: payloadKeys } });
  expect(stdout.split('\n')[0]).toMatch(/^key id\topen runs that need it/);
  return new Map(stdout.trim().split('\n').slice(1).map((line) => line.split('\t') as [string, string]));
}

/** Key ids of the run's payloads, in history order (search attributes, never encoded, left out). */
async function keyIdsOf(user: TestUser) {
  const history = await bare.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();
  return payloadsIn(history.events).map(({ payload }) => keyIdOf(payload)).filter((id) => id !== undefined);
}

/** A change started under the current keys, its first mail sent. */
async function pendingChange() {
  const user = await signedInUser(http);
  const email = uniqueEmail('rotate');
  const change = await startChange(http, user, email);
  return { user, email, change, token: await tokenFromMail(smtp, email) };
}

describe('PAYLOAD_KEYS rotation (issue #10)', () => {
  it('a run started under A finishes after a restart with B,A: new payloads B, old ones A; in-use shows A until it closes', async () => {
    await restart(A);
    const { user, change, token } = await pendingChange();
    expect(new Set(await keyIdsOf(user))).toEqual(new Set([idOf(A)]));

    await restart(`${B},${A}`);
    const open = await inUse(`${B},${A}`);
    expect(open.get(idOf(A))).toBe('1 open run');
    expect(open.get(idOf(B))).toBe('0 open runs (encrypts new payloads)');

    const res = await http.post('/v1/email/verify', { json: { token } });
    expect(res.body, res.text).toMatchObject({ id: change.id, state: 'APPROVED' });
    expect(await api!.temporal.workflow.getHandle(workflowIdFor(user.id)).result()).toMatchObject({ state: 'APPROVED' });
    const ids = await keyIdsOf(user);
    const firstB = ids.indexOf(idOf(B));
    expect(firstB).toBeGreaterThan(0);
    expect(ids.slice(0, firstB).every((id) => id === idOf(A))).toBe(true); // the start and what happened before the restart
    expect(ids.slice(firstB).every((id) => id === idOf(B))).toBe(true); // the verify Update, the apply, the result

    // Closed: no open run needs A any more (the list query is eventually consistent).
    const after = await eventually(async () => {
      const now = await inUse(`${B},${A}`);
      return now.get(idOf(A)) === '0 open runs' ? now : undefined;
    }, 15_000, 'in-use says 0 for A');
    expect(after.get(idOf(A))).toBe('0 open runs');
  });

  it('removing A while a run needs it stalls that run (the operator sees why); putting A back lets it finish', async () => {
    await restart(A);
    const { user, change, token } = await pendingChange();
    await restart(B);

    // in-use names the key the open run needs and that PAYLOAD_KEYS lacks.
    expect((await inUse(B)).get(idOf(A))).toBe('1 open run (NOT in PAYLOAD_KEYS: these runs cannot go on)');
    // The API still answers the status from PostgreSQL; a verify waits for the run, which cannot move: 503, nothing changes.
    expect((await http.get('/v1/email/change', { token: user.token })).body.change).toMatchObject({ id: change.id, state: 'REQUESTED' });
    const refused = await http.post('/v1/email/verify', { json: { token } });
    expect(refused.status, refused.text).toBe(503);
    // The worker fails the run's workflow task and Temporal retries it (`temporal workflow describe` shows the attempts);
    // the failure itself is encrypted like any other, with the current key, and says which key is missing.
    const described = await eventually(async () => {
      const { raw } = await bare.workflow.getHandle(workflowIdFor(user.id)).describe();
      return (raw.pendingWorkflowTask?.attempt ?? 0) > 1 ? raw : undefined;
    }, 30_000, 'the workflow task fails and is retried');
    expect(described.workflowExecutionInfo?.status).toBe(1); // still RUNNING: nothing is lost
    const history = await bare.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();
    const failed = history.events!.find((e) => e.workflowTaskFailedEventAttributes)!.workflowTaskFailedEventAttributes!.failure!;
    expect(failed.message).toBe('Encoded failure');
    const [attributes] = await new EncryptionCodec(keys(B)).decode([failed.encodedAttributes!]);
    expect(JSON.parse(Buffer.from(attributes!.data!).toString('utf8')).message).toContain(`payload encrypted with key "${idOf(A)}", which is not in PAYLOAD_KEYS`);

    // With A back the next retry of the workflow task (Temporal spaces them up to 10 s) succeeds; until
    // then Temporal refuses Updates ("Workflow Task in failed state").
    await restart(`${B},${A}`);
    const approved = await eventually(async () => {
      const res = await http.post('/v1/email/verify', { json: { token } });
      return res.status === 200 ? res.body : undefined;
    }, 30_000, 'verify succeeds once A is back', 1_000);
    expect(approved).toMatchObject({ id: change.id, state: 'APPROVED' });
  });

  it('crypto-shredding: once its key is gone from PAYLOAD_KEYS, a run cannot be decoded by anyone', async () => {
    await restart(A);
    const { user, email } = await pendingChange();
    await http.delete('/v1/email/change', { token: user.token });
    await api!.temporal.workflow.getHandle(workflowIdFor(user.id)).result();
    const history = () => bare.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();

    await expect(decodeHistoryInPlace(await history(), new EncryptionCodec(keys(B)))).rejects.toThrow(`payload encrypted with key "${idOf(A)}", which is not in PAYLOAD_KEYS`);
    const decoded = await decodeHistoryInPlace(await history(), new EncryptionCodec(keys(A)));
    const input = decoded.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(JSON.parse(Buffer.from(input.data!).toString('utf8'))).toMatchObject({ newEmail: email });
  });
});
