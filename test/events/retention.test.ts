import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/log';
import { pruneEvents } from '../../src/events/retention';

/** Issue #14: the change_events log (migration 011) and its retention, in a database of its own. */
describe('the change event log', () => {
  const name = `events_${randomUUID().replace(/-/g, '')}`;
  let admin: pg.Client;
  let pool: pg.Pool;

  beforeAll(async () => {
    admin = new pg.Client(inject('databaseUrl'));
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(inject('databaseUrl'));
    url.pathname = `/${name}`;
    await migrate(url.toString(), createLogger('silent'));
    pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    // DROP DATABASE … WITH (FORCE) ends a connection the pool is still closing; the pool re-emits that as 'error'.
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    await pool?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('is written by the row changes themselves, notifies listeners at commit, and nothing for a rollback', async () => {
    const user = randomUUID();
    const change = randomUUID();
    const listener = await pool.connect();
    const notes: string[] = [];
    listener.on('notification', (n) => notes.push(n.payload!));
    await listener.query('LISTEN change_events');
    await pool.query("INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')", [user, `u${user}`]);
    await pool.query(`INSERT INTO email_change_requests (id, user_id, workflow_id, kind, new_email, new_email_normalized, expires_at) VALUES ($1, $2, 'w', 'ADD', 'a@b.example', 'a@b.example', now() + interval '1h')`, [change, user]);
    await pool.query(`INSERT INTO mail_messages (message_key, change_id, kind, recipient) VALUES ($1, $2, 'verify-new', 'a@b.example')`, [`${change}:new:1`, change]);
    await pool.query(`INSERT INTO mail_messages (message_key, change_id, kind, recipient) VALUES ($1, $2, 'notice', 'a@b.example')`, [`${change}:notice`, change]);
    await pool.query("UPDATE mail_messages SET attempts = attempts + 1, last_error = 'SMTP 421' WHERE message_key = $1", [`${change}:new:1`]);
    await pool.query("UPDATE mail_messages SET status = 'sent', sent_at = now() WHERE message_key = $1", [`${change}:new:1`]);
    const rolledBack = await pool.connect();
    await rolledBack.query('BEGIN');
    await rolledBack.query("UPDATE email_change_requests SET state = 'CANCELLED' WHERE id = $1", [change]);
    await rolledBack.query('ROLLBACK');
    rolledBack.release();
    await pool.query("UPDATE email_change_requests SET state = 'APPROVED', new_confirmed_at = now() WHERE id = $1", [change]);
    // Addresses are not copied into the log: erasure of the request rows leaves nothing behind here.
    const { rows } = await pool.query<{ id: string; type: string; data: Record<string, unknown> }>('SELECT id, type, data FROM change_events WHERE change_id = $1 ORDER BY id', [change]);
    expect(rows.map((r) => r.type)).toEqual(['requested', 'link_issued', 'link_retrying', 'link_sent', 'confirmed', 'approved']);
    expect(JSON.stringify(rows)).not.toContain('@');
    for (let i = 0; i < 50 && notes.length < rows.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(notes).toEqual(rows.map((r) => `${user}:${r.id}`));
    listener.release();
  });

  it('keeps EVENTS_RETENTION worth of events and deletes the older ones', async () => {
    const { rows: before } = await pool.query<{ id: string }>('SELECT id FROM change_events ORDER BY id');
    expect(before.length).toBeGreaterThan(2);
    // The first two were written long ago.
    await pool.query("UPDATE change_events SET created_at = now() - interval '40 days' WHERE id <= $1", [before[1]!.id]);
    expect(await pruneEvents(pool, 30 * 24 * 3_600_000)).toBe(2);
    const { rows: after } = await pool.query<{ id: string }>('SELECT id FROM change_events ORDER BY id');
    expect(after.map((r) => r.id)).toEqual(before.slice(2).map((r) => r.id));
    expect(await pruneEvents(pool, 30 * 24 * 3_600_000)).toBe(0);
  });
});
