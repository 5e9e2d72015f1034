import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { serviceEnv, startApi } from '../helpers/services';
import { startEmbeddedApi } from './embedded-api';

/**
 * Issue #14 item 4: /demo exists only where the dev outbox does (`npm start`'s embedded stack),
 * and never under NODE_ENV=production, even if an outbox were wired in. No worker is needed:
 * these only load the page.
 */

let smtp: SmtpCapture;
const stops: (() => Promise<void>)[] = [];
beforeAll(async () => {
  smtp = await startSmtpCapture();
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await smtp?.stop();
});

async function apiWith(env: Record<string, string>, outbox: SmtpCapture | undefined) {
  const api = await startEmbeddedApi({ ...serviceEnv({ smtpUrl: smtp.url, port: await freePort() }), ...env }, outbox);
  stops.push(api.stop);
  return api.baseUrl;
}

describe('/demo', () => {
  it('is served by the embedded stack, its inline style and script allowed by a fresh nonce each time', async () => {
    const base = await apiWith({}, smtp);
    const [first, second] = [await fetch(`${base}/demo`), await fetch(`${base}/demo`)];
    const nonces: string[] = [];
    for (const res of [first, second]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const csp = res.headers.get('content-security-policy')!;
      const nonce = /script-src 'nonce-([A-Za-z0-9+/=]{20,})'/.exec(csp)?.[1];
      expect(nonce, csp).toBeDefined();
      expect(csp).toContain(`style-src 'nonce-${nonce}'`);
      expect(csp).toMatch(/default-src 'none'.*connect-src 'self'.*form-action 'none'.*frame-ancestors 'none'/);
      const html = await res.text();
      expect(html).toContain(`<script nonce="${nonce}">`);
      expect(html).toContain(`<style nonce="${nonce}">`);
      // Every script and style on the page carries it: nothing outside the policy, nothing loaded from elsewhere.
      expect(html.match(/<script\b[^>]*>/g)).toEqual([`<script nonce="${nonce}">`]);
      expect(html.match(/<style\b[^>]*>/g)).toEqual([`<style nonce="${nonce}">`]);
      expect(html).not.toMatch(/<(script|img|iframe)\b[^>]*\bsrc=/);
      expect(html.match(/<link\b[^>]*>/g)).toEqual(['<link rel="icon" href="data:,">']);
      expect(html).not.toContain('{{');
      nonces.push(nonce!);
    }
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  it('is 404 under NODE_ENV=production, even with an outbox wired in', async () => {
    const base = await apiWith(
      {
        NODE_ENV: 'production',
        TOKEN_SECRET: randomBytes(32).toString('base64'),
        PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      },
      smtp,
    );
    const res = await fetch(`${base}/demo`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No route for GET /demo' } });
    expect((await fetch(`${base}/healthz`)).status).toBe(200); // the API itself is up
  });

  it('is 404 on the standalone API (`npm run api`, no outbox)', async () => {
    const api = await startApi(serviceEnv({ smtpUrl: smtp.url, port: await freePort() }));
    stops.push(api.stop);
    const res = await fetch(`${api.baseUrl}/demo`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});
