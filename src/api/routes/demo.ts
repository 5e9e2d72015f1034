import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import type { AppState } from '../middleware';

/** The page's source: one self-contained HTML file (inline style and script, no build step). */
export const DEMO_PAGE_PATH = path.join(__dirname, '..', 'demo', 'demo.html');

/**
 * Issue #14: `/demo`, a page that plays the app against this server's own API (sign in, register
 * a WebCrypto device key, start a change, live status, the outbox beside it). Registered only with
 * the embedded stack's outbox (src/api/app.ts), like /dev/outbox: never in production.
 */
export function demoRoutes(): Router<AppState> {
  const template = fs.readFileSync(DEMO_PAGE_PATH, 'utf8');
  const router = new Router<AppState>();
  router.get('/demo', (ctx) => {
    // Only this response's own inline style and script run; the page talks to its own origin only,
    // and its forms can never submit (the script sends JSON instead), so a password never lands in a URL.
    const nonce = randomBytes(16).toString('base64');
    ctx.set(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
        "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    ctx.type = 'html';
    ctx.body = template.replaceAll('{{nonce}}', nonce);
  });
  return router;
}
