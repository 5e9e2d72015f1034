import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { SMTP_POOL_CONNECTIONS } from '../../src/mail/transport';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../../src/dev/smtp-capture';
import { startTemporalCluster, type TemporalCluster } from '../../src/dev/temporal-cluster';
import { spawnApi, type ChildApi } from '../helpers/api-process';
import { linkIn, tokenOf } from '../helpers/flow';
import { uniqueEmail } from '../helpers/http';
import { mapLimit, serviceEnv } from '../helpers/services';
import { figures, SpreadClient } from './load';
import { counterValue, spawnServiceWorker, type ServiceWorker } from './service-processes';

/**
 * Issue #13 item 2: the service scaled out on the real multi-process Temporal cluster — two API
 * processes and two worker processes of ours (each the production entry point in a child process),
 * the load spread over both APIs' base URLs. 200 users add an address (no faults: the figures of
 * the scaled-out service), then all 200 change it (new and old address confirm) while one history
 * host and one of our workers are SIGKILLed and started again. Every change must be APPROVED,
 * every mail (each link, each notice) must arrive exactly once, and no answer may be a 5xx other
 * than 503 (every status is recorded).
 */

const USERS = 200;
const CONCURRENCY = 16;
/** The faults come once this many changes are approved, so they land mid-load. */
const KILL_AFTER = 40;
/** How long the history host and our worker stay dead. */
const DOWN_MS = 5_000;
const PASSWORD = 'correct horse battery staple';

interface LoadUser {
  id: string;
  username: string;
  token: string;
  /** The address added in the first phase, then the old address of the change. */
  first: string;
  /** The address the change moves to. */
  second: string;
}

let cluster: TemporalCluster;
let smtp: SmtpCapture;
let db: pg.Pool;
let env: Record<string, string>;
let apis: ChildApi[] = [];
let workers: ServiceWorker[] = [];
let http: SpreadClient;
const users: LoadUser[] = [];

beforeAll(async () => {
  cluster = await startTemporalCluster({ databaseUrl: process.env.DATABASE_URL, dir: path.join(inject('tempDir'), 'failover-cluster') });
  smtp = await startSmtpCapture({ maxMessages: 100_000 });
  env = {
    ...serviceEnv({ temporalAddress: cluster.address, databaseUrl: cluster.databaseUrl, smtpUrl: smtp.url, port: await freePort() }),
    ...cluster.clientEnv,
  };
  // Each process runs the migrations at start-up (they wait on an advisory lock), as in production.
  apis = await Promise.all([spawnApi(env), spawnApi(env)]);
  workers = await Promise.all([spawnServiceWorker(env), spawnServiceWorker(env)]);
  await Promise.all([...apis.map((a) => a.ready), ...workers.map((w) => w.ready)]);
  db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 2 });
  http = new SpreadClient(apis.map((a) => a.baseUrl));
});

afterAll(async () => {
  await Promise.all(apis.map((a) => a.kill()));
  await Promise.all(workers.map((w) => w.stop()));
  await db?.end();
  await smtp?.stop();
  await cluster?.stop();
});

/** The first mail to `address` after mail number `afterId` (the capture numbers every mail it accepts). */
async function mailTo(address: string, afterId: number): Promise<CapturedMail> {
  const mail = await smtp.nextMessage(address, afterId, 180_000);
  if (!mail) throw new Error(`no mail to ${address} within 180 s`);
  return mail;
}

const lastMailId = () => smtp.messages().at(-1)?.id ?? 0;

/** POST /v1/email/change with the password, under an Idempotency-Key its retries repeat. */
async function startRequest(user: LoadUser, email: string) {
  const res = await http.retrying('POST', '/v1/email/change', {
    token: user.token,
    headers: { 'Idempotency-Key': randomUUID() },
    json: { email, auth: { method: 'password', password: PASSWORD } },
  });
  expect(res.status, res.text).toBe(202);
}

async function confirm(token: string) {
  const res = await http.retrying('POST', '/v1/email/verify', { json: { token } });
  expect(res.status, res.text).toBe(200);
}

const approved = (user: LoadUser) => http.until('/v1/email/change', user.token, (body) => body.change?.state === 'APPROVED');

describe('two APIs and two workers on the real cluster, a history host and a worker SIGKILLed under load', () => {
  it(`${USERS} users sign up and add an address, spread over both APIs and both workers (figures printed)`, async () => {
    await mapLimit(Array.from({ length: USERS }, (_, i) => i), CONCURRENCY, async (i) => {
      const username = `load_${process.pid}_${i}_${randomUUID().slice(0, 8)}`;
      const created = await http.retrying('POST', '/v1/users', { json: { username, password: PASSWORD } });
      expect(created.status, created.text).toBe(201);
      const session = await http.retrying('POST', '/v1/sessions', { json: { username, password: PASSWORD } });
      expect(session.status, session.text).toBe(201);
      users[i] = { id: created.body.id, username, token: session.body.token, first: uniqueEmail(`first${i}`), second: uniqueEmail(`second${i}`) };
    });

    const started = Date.now();
    const latencies = await mapLimit(users, CONCURRENCY, async (user) => {
      const t0 = Date.now();
      const before = lastMailId();
      await startRequest(user, user.first);
      await confirm(tokenOf(linkIn(await mailTo(user.first, before))));
      await approved(user);
      return Date.now() - t0;
    });
    console.log(figures(`cluster, 2 APIs + 2 workers, ${CONCURRENCY} at a time: adds (start → APPROVED)`, latencies, (Date.now() - started) / 1000));
    console.log(`  ${http.summary()}`);

    // Both APIs answered, and both workers ran activities.
    for (const api of apis) expect(http.perBaseUrl.get(api.baseUrl)).toBeGreaterThan(USERS);
    for (const worker of workers) {
      const page = await (await fetch(`${worker.healthUrl}/metrics`)).text();
      expect(counterValue(page, 'email_change_activity_attempts_total', { outcome: 'completed' }), `worker ${worker.pid} ran no activity`).toBeGreaterThan(0);
    }
    expect(http.unexpected5xx).toEqual([]);
  });

  it(`${USERS} changes confirmed from the new and the old address while history-1 and one of our workers are SIGKILLed and restarted`, async () => {
    expect(users.filter(Boolean)).toHaveLength(USERS);
    const mailsBefore = lastMailId();
    let done = 0;
    let notDoneAtKill = -1;
    let killedAt = 0;
    let faults: Promise<void> | undefined;
    const injectFaults = async () => {
      notDoneAtKill = USERS - done;
      killedAt = Date.now();
      await Promise.all([cluster.kill('history-1'), workers[0]!.kill()]);
      await new Promise((r) => setTimeout(r, DOWN_MS));
      await cluster.restart('history-1');
      workers[0] = await spawnServiceWorker(env);
      await workers[0].ready;
    };

    const started = Date.now();
    const latencies = await mapLimit(users, CONCURRENCY, async (user) => {
      const t0 = Date.now();
      await startRequest(user, user.second);
      const [toNew, toOld] = await Promise.all([mailTo(user.second, mailsBefore), mailTo(user.first, mailsBefore)]);
      await confirm(tokenOf(linkIn(toNew)));
      await confirm(tokenOf(linkIn(toOld)));
      await approved(user);
      if (++done === KILL_AFTER) faults = injectFaults();
      return Date.now() - t0;
    });
    const seconds = (Date.now() - started) / 1000;
    await faults;
    console.log(figures(`cluster, 2 APIs + 2 workers, ${CONCURRENCY} at a time, history-1 and worker 1 SIGKILLed at +${((killedAt - started) / 1000).toFixed(1)} s (${notDoneAtKill} changes not yet done) and back ${DOWN_MS / 1000} s later: changes (start → APPROVED)`, latencies, seconds));
    console.log(`  ${http.summary()}`);
    // The faults came mid-load: with more changes still to finish than run at a time.
    expect(killedAt).toBeGreaterThan(0);
    expect(notDoneAtKill).toBeGreaterThan(CONCURRENCY);

    // Every request of these users, the adds and the changes, ended APPROVED: none superseded by a retried start.
    const ids = users.map((u) => u.id);
    const states = await db.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM email_change_requests WHERE user_id = ANY($1::uuid[]) GROUP BY state', [ids]);
    expect(Object.fromEntries(states.rows.map((r) => [r.state, Number(r.n)]))).toEqual({ APPROVED: 2 * USERS });
    const accounts = await db.query<{ n: string }>('SELECT count(*) AS n FROM users WHERE id = ANY($1::uuid[]) AND email = ANY($2::text[]) AND email_verified', [ids, users.map((u) => u.second)]);
    expect(Number(accounts.rows[0]!.n)).toBe(USERS);

    // Every mail arrived once per Message-ID: each outbox row (a link, or the old address's notice) has
    // a delivery at the SMTP capture (its Message-ID is derived from the row's key), and nothing else came.
    // SMTP cannot be asked whether it took a message, so a send whose worker died between the relay's
    // acceptance and the row's update is in doubt and goes again with the same Message-ID (a mailbox shows
    // one): a second copy is allowed only for a row that recorded such a resend, and only one per resend.
    await waitForNotices();
    const outbox = await db.query<{ key: string; kind: string; recipient: string; status: string; inDoubt: number }>(
      `SELECT m.message_key AS key, m.kind, m.recipient, m.status, m.resent_in_doubt AS "inDoubt"
       FROM mail_messages m JOIN email_change_requests r ON r.id = m.change_id WHERE r.user_id = ANY($1::uuid[])`,
      [ids],
    );
    const addresses = new Set(users.flatMap((u) => [u.first.toLowerCase(), u.second.toLowerCase()]));
    const delivered = new Map<string, number>();
    let mailsToUsers = 0;
    for (const mail of smtp.messages()) {
      if (!mail.to.some((to) => addresses.has(to.toLowerCase()))) continue;
      mailsToUsers++;
      const id = mail.messageId.replace(/^<|>$/g, '').split('@')[0]!;
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
    }
    const byKind: Record<string, number> = {};
    const wrong: string[] = [];
    let copies = 0;
    let resentInDoubt = 0;
    let duplicated = 0;
    for (const row of outbox.rows) {
      byKind[row.kind] = (byKind[row.kind] ?? 0) + 1;
      const n = delivered.get(createHash('sha256').update(row.key).digest('hex').slice(0, 32)) ?? 0;
      copies += n;
      resentInDoubt += row.inDoubt;
      if (n > 1) duplicated++;
      if (n < 1 || n > 1 + row.inDoubt || row.status !== 'sent') wrong.push(`${row.kind} to ${row.recipient}: ${n} deliveries, ${row.inDoubt} resent in doubt, status ${row.status}`);
    }
    console.log(`  mails: ${outbox.rows.length} outbox rows, ${mailsToUsers} deliveries; ${resentInDoubt} sent again after an attempt that died mid-send, ${duplicated} of them had arrived`);
    // Per user: the add's link to the first address; the change's links to the second (new) and the first (old); the notice to the first.
    expect(byKind).toEqual({ 'verify-new': 2 * USERS, 'verify-old': USERS, notice: USERS });
    expect(wrong).toEqual([]);
    expect(mailsToUsers).toBe(copies);
    // Only a mail mid-transfer on the killed worker can arrive twice: at most one per SMTP connection it had open.
    expect(duplicated).toBeLessThanOrEqual(SMTP_POOL_CONNECTIONS);

    expect(http.unexpected5xx).toEqual([]);
  }, 600_000);
});

/** The notice to the old address goes out after APPROVED; wait until each user's has been sent. */
async function waitForNotices(): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM mail_messages m JOIN email_change_requests r ON r.id = m.change_id
       WHERE r.user_id = ANY($1::uuid[]) AND m.kind = 'notice' AND m.status = 'sent'`,
      [users.map((u) => u.id)],
    );
    if (Number(rows[0]!.n) === USERS) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0]!.n} of ${USERS} notices sent within 300 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
