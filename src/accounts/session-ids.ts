import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * Issue #15 item 5: the id of the built-in session behind `Authorization: Bearer <token>` (none for an
 * identity provider's access token), so a change can keep the session that asked and revoke the rest.
 */
export async function sessionIdOf(pool: pg.Pool, authorization: string): Promise<string | undefined> {
  const token = /^Bearer (\S+)$/.exec(authorization)?.[1];
  if (!token || token.includes('.')) return undefined;
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM sessions WHERE token_hash = $1', [createHash('sha256').update(token).digest()]);
  return rows[0]?.id;
}
