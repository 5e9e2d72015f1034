import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { startExtraApi, type FaultApi } from '../helpers/services';
import { startReplyDroppingProxy, type ReplyDroppingProxy } from '../helpers/reply-dropping-proxy';
import { freePort } from '../../src/dev/ports';
import { apiClient, call, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { linkIn, startChange } from '../helpers/flow';

/**
 * Issue #9 items 10 and 12: with Temporal out of reach a person clicking a live link hears
 * "try again" (503, a page), never "this request is finished"; /readyz keeps its 2 s deadline;
 * one-button pages cannot be framed.
 */
let stack: TestStack;
let api: ApiClient;
let proxy: ReplyDroppingProxy;
const downApis: Record<string, FaultApi> = {};
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
  // Two ways Temporal is down: nothing listens (refused), or something accepts and never answers.
  proxy = await startReplyDroppingProxy(stack.env.TEMPORAL_ADDRESS!);
  proxy.dropReplies(true);
  downApis.refused = await startExtraApi(stack.env, { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
  downApis.silent = await startExtraApi(stack.env, { TEMPORAL_ADDRESS: proxy.address });
});
afterAll(async () => {
  await Promise.all(Object.values(downApis).map((a) => a.stop()));
  await proxy?.stop();
  await stack?.stop();
});

/** /readyz's deadline per check (PROBE_TIMEOUT_MS in src/api/routes/health.ts). */
const PROBE_DEADLINE_MS = 2_000;

/** Time a call; the bound asserted below is the API's own deadline contract, not a speed claim. */
async function timed<T>(request: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const result = await request();
  return [result, Date.now() - started];
}

describe.each(['refused', 'silent'])('Temporal %s', (how) => {
  it('the link page of a pending change says "try again" (503 page), and the confirm button too; nothing changed', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail(`down-${how}`);
    const change = await startChange(api, user, email);
    const link = new URL(linkIn(await stack.smtp.waitForMessage(email)));
    const base = downApis[how]!.baseUrl;

    const [page, ms] = await timed(() => call(base, 'GET', `/verify-email${link.search}`));
    const html = page.text;
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('retry-after')).toBeTruthy();
    expect(html).toContain('Please try again in a moment');
    expect(html).not.toMatch(/finished|start over/i);
    expect(ms).toBeLessThan(8_000);

    const button = await call(base, 'POST', '/verify-email', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      raw: new URLSearchParams({ token: link.searchParams.get('token')! }).toString(),
    });
    expect(button.status).toBe(503);
    expect(button.headers.get('content-type')).toMatch(/text\/html/);
    expect(button.text).toContain('Please try again in a moment');

    const row = await stack.pool.query('SELECT state FROM email_change_requests WHERE id = $1', [change.id]);
    expect(row.rows[0].state).toBe('REQUESTED');
    // Back on a working API the same link still works.
    expect((await call(link.origin, 'GET', `${link.pathname}${link.search}`)).status).toBe(200);
  });

  it('/readyz answers 503 within its 2 s probe deadline', async () => {
    const [res, ms] = await timed(() => fetch(`${downApis[how]!.baseUrl}/readyz`));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { checks: unknown }).checks).toMatchObject({ postgres: { ok: true }, temporal: { ok: false } });
    // The 2 s deadline plus 1 s for a loaded machine, and no more: code that ignored the deadline took 6-10 s
    // here (issue #9 item 10), and a check that waits 3 s or longer fails.
    expect(ms).toBeLessThan(PROBE_DEADLINE_MS + 1_000);
    // A silent Temporal never answers: only the deadline can end the check, so the answer comes at it, not before.
    if (how === 'silent') expect(ms).toBeGreaterThanOrEqual(PROBE_DEADLINE_MS - 50);
  });
});

describe('framing (issue #9 item 12)', () => {
  it('link pages and JSON answers forbid framing', async () => {
    for (const path of ['/verify-email?token=x', '/healthz', '/v1/me']) {
      const res = await call(stack.baseUrl, 'GET', path);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });
});
