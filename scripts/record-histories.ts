/**
 * Records the event histories that test/replay.test.ts replays against the current workflow code.
 *
 *   npx tsx scripts/record-histories.ts          # rewrites test/fixtures/histories/*.json
 *   npx tsx scripts/record-histories.ts NAME…    # records (adds or rewrites) only the scenarios named
 *
 * Like test/global-setup.ts it starts its own Temporal dev server and PostgreSQL (DATABASE_URL if
 * set, else embedded in a temporary directory), then, like the integration tests, its own SMTP
 * capture server, worker and API, and drives each scenario over HTTP. Payloads are encrypted with
 * the fixture key (test/fixtures/histories/fixture-payload-keys.ts) and each history is written as
 * the server holds it, encrypted. It is written only after its run has closed, and only if, as
 * stored, it shows no address that was mailed, no username, password, client IP or link token,
 * and, decoded with the key, still no link token or password: the script fails otherwise and
 * writes nothing.
 *
 * Re-record only on purpose (a new scenario, or a deliberate, versioned workflow change): the
 * point of the fixtures is that they were produced by the code that is already running somewhere.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { createRequire } from 'node:module';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig, type Config } from '../src/config';
import { createPool } from '../src/db/pool';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/log';
import { createMailTransport } from '../src/mail/transport';
import { bundleWorkflows, createWorker } from '../src/worker';
import { dataConverter } from '../src/codec/data-converter';
import { EncryptionCodec, keyIdOf } from '../src/codec/encryption-codec';
import { decodeHistoryInPlace, payloadsIn } from '../src/codec/history-payloads';
import { FIXTURE_PAYLOAD_KEYS } from '../test/fixtures/histories/fixture-payload-keys';
import { listen, closeServer } from '../src/api/server';
import { startSmtpCapture, type SmtpCapture } from '../src/dev/smtp-capture';
import { freePort } from '../src/dev/ports';
import { startTemporalDevServer } from '../src/dev/temporal';
import { startEmbeddedPostgres } from '../src/dev/postgres';
import { workflowIdFor } from '../src/workflows/messages';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../test/helpers/http';

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/histories');
const quiet = { ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined } as never;

interface Shared {
  temporalAddress: string;
  databaseUrl: string;
  workflowCode: string;
}

interface Stack {
  baseUrl: string;
  config: Config;
  smtp: SmtpCapture;
  temporal: Client;
  api: ApiClient;
  stop(): Promise<void>;
}

/** test/helpers/stack.ts startStack, without vitest's inject: SMTP capture, worker and API of its own. */
async function startStack(shared: Shared, env: Record<string, string> = {}): Promise<Stack> {
  const smtp = await startSmtpCapture();
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.RECORD_LOG_LEVEL ?? 'silent',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: shared.databaseUrl,
    TEMPORAL_ADDRESS: shared.temporalAddress,
    TASK_QUEUE: `record-${randomUUID()}`,
    SMTP_URL: smtp.url,
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    PAYLOAD_KEYS: FIXTURE_PAYLOAD_KEYS,
    ...env,
  });
  const log = createLogger(config.logLevel);
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const workerConnection = await NativeConnection.connect({ address: config.temporal.address! });
  const worker = await createWorker(
    workerConnection,
    { config, pool, mail: createMailTransport(config.smtpUrl!), log },
    { workflowBundle: { code: shared.workflowCode } },
  );
  const workerDone = worker.run();
  const connection = await Connection.connect({ address: config.temporal.address! });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverter(config.payloadKeys) });
  const server: http.Server = await listen({ config, pool, temporal, log }, port, '127.0.0.1');
  return {
    baseUrl: config.publicBaseUrl,
    config,
    smtp,
    temporal,
    api: apiClient(config.publicBaseUrl),
    async stop() {
      await closeServer(server);
      worker.shutdown();
      await workerDone;
      await Promise.all([workerConnection.close(), connection.close(), pool.end(), smtp.stop()]);
    },
  };
}

// ── the flow, as test/helpers/flow.ts drives it (without vitest's expect) ─────────────────────

function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

async function startChange(api: ApiClient, user: TestUser, email: string): Promise<{ id: string; state: string }> {
  const res = await api.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password: user.password } } });
  check(res.status === 202, `start change: ${res.status} ${res.text}`);
  return res.body.change;
}

async function tokenFromMail(smtp: SmtpCapture, address: string, index = 0): Promise<string> {
  const mail = await smtp.waitForMessage(address, { seen: index });
  const link = mail.links.find((l) => new URL(l).pathname === '/verify-email');
  check(link, `no verification link in mail "${mail.subject}" to ${address}`);
  return new URL(link).searchParams.get('token')!;
}

/** What a person does: open the link (GET shows the button), then press it (POST the form). */
async function clickAndConfirm(baseUrl: string, token: string): Promise<string> {
  const link = `${baseUrl}/verify-email?token=${encodeURIComponent(token)}`;
  const get = await fetch(link);
  await get.text();
  check(get.status === 200, `GET link page: ${get.status}`);
  const post = await fetch(`${baseUrl}/verify-email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  const html = await post.text();
  check(post.status === 200, `POST link page: ${post.status} ${html.slice(0, 200)}`);
  return html;
}

async function verify(api: ApiClient, token: string, state: string) {
  const res = await api.post('/v1/email/verify', { json: { token } });
  check(res.status === 200 && res.body.state === state, `verify: ${res.status} ${res.text}`);
}

/** A signed-in user whose address `oldEmail` was added and confirmed (its run may still be closing). */
async function withVerifiedAddress(api: ApiClient, smtp: SmtpCapture, tag: string): Promise<{ user: TestUser; oldEmail: string }> {
  const user = await signedInUser(api);
  const oldEmail = uniqueEmail(tag);
  await startChange(api, user, oldEmail);
  await verify(api, await tokenFromMail(smtp, oldEmail), 'APPROVED');
  return { user, oldEmail };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── scenarios ────────────────────────────────────────────────────────────────────────────────

interface Recorded {
  user: TestUser;
  changeId: string;
  /** What the run must have ended in (checked against the run's result). */
  state: string;
}

interface Scenario {
  name: string;
  env?: Record<string, string>;
  run(stack: Stack): Promise<Recorded>;
}

const scenarios: Scenario[] = [
  {
    name: 'add-approved',
    async run({ api, smtp, baseUrl }) {
      const user = await signedInUser(api);
      const email = uniqueEmail('add');
      const change = await startChange(api, user, email);
      const html = await clickAndConfirm(baseUrl, await tokenFromMail(smtp, email));
      check(html.includes('Your email address is confirmed'), 'add: not confirmed');
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    name: 'change-approved-with-old-confirmation',
    // Issue #15: without it the run stays open for the 7-day undo window and this script waits for its close.
    env: { REVERT_WINDOW: '0' },
    async run({ api, smtp, baseUrl }) {
      const { user, oldEmail } = await withVerifiedAddress(api, smtp, 'old');
      await waitForClosed(api, user);

      const newEmail = uniqueEmail('new');
      const change = await startChange(api, user, newEmail);
      const newToken = await tokenFromMail(smtp, newEmail);
      const oldToken = await tokenFromMail(smtp, oldEmail, 1);
      check((await clickAndConfirm(baseUrl, newToken)).includes('Confirmed, one step left'), 'change: first confirmation');
      const second = await clickAndConfirm(baseUrl, oldToken);
      check(second.includes('The email change is complete'), 'change: second confirmation');
      const notice = await smtp.waitForMessage(oldEmail, { seen: 2 });
      check(notice.subject === 'Your account email was changed', `change: notice subject "${notice.subject}"`);
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    name: 'add-cancelled',
    async run({ api, smtp }) {
      const user = await signedInUser(api);
      const email = uniqueEmail('cancel');
      const change = await startChange(api, user, email);
      await tokenFromMail(smtp, email);
      const res = await api.delete('/v1/email/change', { token: user.token });
      check(res.status === 200 && res.body.change.state === 'CANCELLED', `cancel: ${res.status} ${res.text}`);
      return { user, changeId: change.id, state: 'CANCELLED' };
    },
  },
  {
    name: 'add-resent-approved',
    env: { RESEND_COOLDOWN: '1s' },
    async run({ api, smtp }) {
      const user = await signedInUser(api);
      const email = uniqueEmail('resend');
      const change = await startChange(api, user, email);
      await tokenFromMail(smtp, email);
      await sleep(1_500);
      const res = await api.post('/v1/email/change/resend', { token: user.token, json: {} });
      check(res.status === 202 && res.body.change.resendsLeft === 4, `resend: ${res.status} ${res.text}`);
      await verify(api, await tokenFromMail(smtp, email, 1), 'APPROVED');
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    // Issue #12's shape 4: a change's resend mails both fresh links in one activity.
    name: 'change-resent-approved',
    env: { RESEND_COOLDOWN: '1s', REVERT_WINDOW: '0' },
    async run({ api, smtp }) {
      const { user, oldEmail } = await withVerifiedAddress(api, smtp, 'resend-old');
      await waitForClosed(api, user);

      const newEmail = uniqueEmail('resend-new');
      const change = await startChange(api, user, newEmail);
      await Promise.all([tokenFromMail(smtp, newEmail), tokenFromMail(smtp, oldEmail, 1)]);
      await sleep(1_500);
      const res = await api.post('/v1/email/change/resend', { token: user.token, json: {} });
      check(res.status === 202 && res.body.change.resendsLeft === 4, `change resend: ${res.status} ${res.text}`);
      await verify(api, await tokenFromMail(smtp, newEmail, 1), 'REQUESTED');
      await verify(api, await tokenFromMail(smtp, oldEmail, 2), 'APPROVED');
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    // Issue #15 item 7: both addresses confirmed by their typed codes, after one wrong code.
    name: 'change-approved-by-codes',
    env: { REVERT_WINDOW: '0' },
    async run({ api, smtp }) {
      const { user, oldEmail } = await withVerifiedAddress(api, smtp, 'code-old');
      await waitForClosed(api, user);

      const newEmail = uniqueEmail('code-new');
      const change = await startChange(api, user, newEmail);
      const codeOf = async (address: string, index: number) => /type this code: (\d{6})\./.exec((await smtp.waitForMessage(address, { seen: index })).text)?.[1] ?? '';
      const [newCode, oldCode] = [await codeOf(newEmail, 0), await codeOf(oldEmail, 1)];
      const typed = (code: string) => api.post('/v1/email/verify', { token: user.token, json: { code } });
      const wrong = await typed(String((Number(newCode) + 1) % 1_000_000).padStart(6, '0'));
      check(wrong.status === 400 && wrong.body.error.details.attemptsLeft === 4, `codes: wrong code ${wrong.status} ${wrong.text}`);
      check((await typed(newCode)).body.state === 'REQUESTED', 'codes: first confirmation');
      const last = await typed(oldCode);
      check(last.body.state === 'APPROVED', `codes: second confirmation ${last.status} ${last.text}`);
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    // Issue #15 item 6 on shape 3's single timer: the reminder's moment, a fresh link, confirmed.
    name: 'add-reminded-approved',
    env: { EMAIL_CHANGE_TTL: '8s', REMINDER_BEFORE_EXPIRY: '5s' },
    async run({ api, smtp }) {
      const user = await signedInUser(api);
      const email = uniqueEmail('remind');
      const change = await startChange(api, user, email);
      await tokenFromMail(smtp, email);
      const reminder = await smtp.waitForMessage(email, { seen: 1, timeoutMs: 10_000 });
      check(/remind/i.test(reminder.subject), `reminder: subject "${reminder.subject}"`);
      await verify(api, await tokenFromMail(smtp, email, 1), 'APPROVED');
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    // Issue #15 item 4: an approved change holds its undo window (3 s here) open, then completes.
    name: 'change-approved-undo-window',
    env: { REVERT_WINDOW: '3s' },
    async run({ api, smtp }) {
      const { user, oldEmail } = await withVerifiedAddress(api, smtp, 'undo-old');
      await sleep(3_500); // the first change's window closes with its run

      const newEmail = uniqueEmail('undo-new');
      const change = await startChange(api, user, newEmail);
      await verify(api, await tokenFromMail(smtp, newEmail), 'REQUESTED');
      await verify(api, await tokenFromMail(smtp, oldEmail, 1), 'APPROVED');
      const notice = await smtp.waitForMessage(oldEmail, { seen: 2 });
      check(notice.links.some((l) => new URL(l).pathname === '/undo-email-change'), 'undo window: the notice carries no undo link');
      await sleep(3_500);
      return { user, changeId: change.id, state: 'APPROVED' };
    },
  },
  {
    name: 'add-expired',
    env: { EMAIL_CHANGE_TTL: '3s' },
    async run({ api, smtp }) {
      const user = await signedInUser(api);
      const email = uniqueEmail('expire');
      const change = await startChange(api, user, email);
      await tokenFromMail(smtp, email);
      return { user, changeId: change.id, state: 'EXPIRED' };
    },
  },
];

async function waitForClosed(api: ApiClient, user: TestUser, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get('/v1/email/change', { token: user.token });
    if (res.status === 200 && res.body.change?.state !== 'REQUESTED') return;
    if (Date.now() > deadline) throw new Error(`change never closed; last: ${res.text}`);
    await sleep(100);
  }
}

// ── history JSON ─────────────────────────────────────────────────────────────────────────────

/**
 * historyToJSON of @temporalio/common, or the same conversion done with the protobufjs copy that
 * @temporalio/proto is built on: when npm installs two copies of protobufjs 8 (one under
 * @temporalio/common, one under @temporalio/proto, as it does in this project next to grpc's
 * protobufjs 7), protojson's `instanceof Type` check fails and historyToJSON throws
 * "type must be a Type". The output is the same Temporal JSON history format either way.
 */
function toHistoryJson(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!(err instanceof TypeError) || !err.message.includes('must be a Type')) throw err;
    const protojson = createRequire(require.resolve('@temporalio/proto'))('protobufjs/ext/protojson') as { toJson(type: unknown, message: unknown): unknown };
    const type = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');
    return JSON.stringify(protojson.toJson(type, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
  }
}

// ── history checks ───────────────────────────────────────────────────────────────────────────

/** The history JSON plus every payload in it decoded (payload data is base64 in the JSON). */
function searchableText(historyJson: string): string {
  const decoded: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (typeof obj.data === 'string' && obj.metadata && typeof obj.metadata === 'object') {
        decoded.push(Buffer.from(obj.data, 'base64').toString('utf8'));
      }
      Object.values(obj).forEach(walk);
    }
  };
  walk(JSON.parse(historyJson));
  return [historyJson, ...decoded].join('\n');
}

function assertAbsent(name: string, historyJson: string, secrets: string[], what: string): void {
  const text = searchableText(historyJson);
  const leaked = secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)));
  if (leaked.length > 0) throw new Error(`${name}: the history contains ${leaked.length} ${what}; not written`);
}

/** Every payload but the search attributes' (ids and states, never encoded) carries the fixture key's id. */
function assertEncrypted(name: string, history: History): void {
  // Search attributes are never encoded; nor is the SDK's own marker metadata (a patch id; a local activity's type, attempt and times: every marker detail but `result`), written by the SDK core.
  const attributes = new Set(
    payloadsIn((history.events ?? []).map((e) => [e.workflowExecutionStartedEventAttributes?.searchAttributes, e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes, Object.entries(e.markerRecordedEventAttributes?.details ?? {}).filter(([k]) => k !== 'result').map(([, v]) => v)])).map((p) => p.payload),
  );
  const plain = payloadsIn(history).filter(({ payload }) => !attributes.has(payload) && keyIdOf(payload) !== 'fixture');
  if (plain.length > 0) throw new Error(`${name}: ${plain.length} payload(s) not encrypted with the fixture key; not written: ${plain.map(({ payload }) => JSON.stringify({ metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString()])), data: Buffer.from(payload.data ?? []).toString().slice(0, 200) })).join('; ')}`);
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'email-change-record-'));
  fs.chmodSync(tempDir, 0o755);
  const log = createLogger('warn', { service: 'record-histories' });
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stops: (() => Promise<void>)[] = [];
  try {
    const [temporal, postgres, bundle] = await Promise.all([
      startTemporalDevServer({ cliPath: process.env.TEMPORAL_CLI_PATH }),
      process.env.DATABASE_URL ? undefined : startEmbeddedPostgres(path.join(tempDir, 'postgres'), { persistent: false }),
      bundleWorkflows(quiet),
    ]);
    stops.push(() => temporal.stop());
    if (postgres) stops.push(() => postgres.stop());
    const databaseUrl = process.env.DATABASE_URL ?? postgres!.url;
    await migrate(databaseUrl, log);
    const shared: Shared = { temporalAddress: temporal.address, databaseUrl, workflowCode: bundle.code };

    const outputs = new Map<string, string>();
    const named = process.argv.slice(2);
    const unknown = named.filter((name) => !scenarios.some((s) => s.name === name));
    check(unknown.length === 0, `no scenario named ${unknown.join(', ')}`);
    for (const scenario of scenarios.filter((s) => named.length === 0 || named.includes(s.name))) {
      const stack = await startStack(shared, scenario.env);
      try {
        const recorded = await scenario.run(stack);
        const handle = stack.temporal.workflow.getHandle(workflowIdFor(recorded.user.id));
        const result = await handle.result();
        check(result.id === recorded.changeId && result.state === recorded.state, `${scenario.name}: run ended ${result.state} for ${result.id}`);
        const { runId, status } = await handle.describe();
        check(status.name === 'COMPLETED', `${scenario.name}: run is ${status.name}`);
        // fetchHistory decodes nothing: this is the history as the server stores it.
        const history = await stack.temporal.workflow.getHandle(workflowIdFor(recorded.user.id), runId).fetchHistory();
        const json = toHistoryJson(history);
        const tokens = stack.smtp
          .messages()
          .flatMap((m) => m.links)
          .filter((l) => new URL(l).pathname === '/verify-email')
          .map((l) => new URL(l).searchParams.get('token')!);
        const addresses = [...new Set(stack.smtp.messages().flatMap((m) => m.to))];
        check(tokens.length > 0 && addresses.length > 0, `${scenario.name}: nothing was mailed`);
        assertEncrypted(scenario.name, history);
        assertAbsent(scenario.name, json, [...addresses, recorded.user.username, '127.0.0.1'], 'mailed address(es), username or client IP in plain text');
        assertAbsent(scenario.name, json, [...tokens, recorded.user.password], 'mailed link token(s) or password(s)');
        const decoded = toHistoryJson(await decodeHistoryInPlace(history, new EncryptionCodec(stack.config.payloadKeys)));
        check(searchableText(decoded).includes(recorded.changeId), `${scenario.name}: history of another run`);
        assertAbsent(scenario.name, decoded, [...tokens, recorded.user.password], 'mailed link token(s) or password(s), payloads decrypted');
        outputs.set(scenario.name, json);
        console.log(`recorded ${scenario.name}: ${history.events?.length} events, encrypted; ${addresses.length} address(es), ${tokens.length} mailed token(s) absent`);
      } finally {
        await stack.stop();
      }
    }

    fs.mkdirSync(FIXTURES, { recursive: true });
    for (const [name, json] of outputs) fs.writeFileSync(path.join(FIXTURES, `${name}.json`), `${json}\n`);
    console.log(`wrote ${outputs.size} histories to ${path.relative(ROOT, FIXTURES)}/`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
