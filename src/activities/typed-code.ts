import type pg from 'pg';
import type { TokenKeys } from '../tokens';
import { codeVerifier, codeVerifiersUnderAnyKey, newVerificationCode } from '../verification-codes';

/**
 * Issue #15 item 7: a fresh code for a verification mail, unlike every code this change has had
 * (under any configured key), so a code always names one address. The new and the old address's
 * codes are prepared at the same moment; two such draws agreeing (one in a million) and racing is
 * left to the workflow, which refuses an ambiguous code rather than guess.
 */
export async function newDistinctCode(pool: pg.Pool, keys: TokenKeys, changeId: string, known?: string[]): Promise<{ code: string; verifier: string }> {
  // `known`: the caller knows every code the change has (its first links); else PostgreSQL says.
  const verifiers = known ?? (await pool.query<{ verifier: string }>('SELECT code_verifier AS verifier FROM mail_messages WHERE change_id = $1 AND code_verifier IS NOT NULL', [changeId])).rows.map((r) => r.verifier);
  const taken = new Set(verifiers);
  for (;;) {
    const code = newVerificationCode();
    if (!codeVerifiersUnderAnyKey(keys, changeId, code).some((v) => taken.has(v))) return { code, verifier: codeVerifier(keys, changeId, code) };
  }
}
