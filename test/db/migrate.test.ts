import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/log';

const log = createLogger('silent');

describe('migrations', () => {
  const name = `migrate_${randomUUID().replace(/-/g, '')}`;
  let admin: pg.Client;
  let url: string;

  beforeAll(async () => {
    admin = new pg.Client(inject('databaseUrl'));
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(inject('databaseUrl'));
    u.pathname = `/${name}`;
    url = u.toString();
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('apply once when three processes start at the same moment, then are a no-op', async () => {
    const results = await Promise.all([migrate(url, log), migrate(url, log), migrate(url, log)]);
    // Every file in migrations/, in order, exactly once across the three processes.
    const files = fs.readdirSync(path.resolve(__dirname, '../../migrations')).filter((f) => f.endsWith('.sql')).sort().map((f) => f.replace(/\.sql$/, ''));
    expect(files.slice(0, 3)).toEqual(['001_foundation', '002_email_change', '003_devices_and_idempotency']);
    expect(results.flat()).toEqual(files);
    expect(await migrate(url, log)).toEqual([]);

    const db = new pg.Client(url);
    await db.connect();
    const { rows } = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['users', 'sessions', 'email_change_requests', 'email_history', 'devices', 'pgmigrations']),
    );
    await db.end();
  });

  it('make a verified address unique across accounts, whatever its case', async () => {
    const db = new pg.Client(url);
    await db.connect();
    try {
      const insert = (username: string, email: string, verified: boolean) =>
        db.query(
          `INSERT INTO users (username, password_hash, email, email_normalized, email_verified, email_verified_at)
           VALUES ($1, 'x', $2, $3, $4, CASE WHEN $4 THEN now() END)`,
          [username, email, email.toLowerCase(), verified],
        );
      await insert('a', 'Same@Example.com', true);
      await insert('b', 'same@example.com', false); // unverified duplicates are allowed (R-CONFLICT)
      await expect(insert('c', 'SAME@example.com', true)).rejects.toMatchObject({ constraint: 'users_verified_email_key' });
      await expect(insert('A', 'other@example.com', false)).rejects.toMatchObject({ constraint: 'users_username_key' });
    } finally {
      await db.end();
    }
  });
});
