import Router from '@koa/router';
import type { SmtpCapture } from '../../dev/smtp-capture';
import type { AppState } from '../middleware';
import { escapeHtml, page } from '../html';

const linkify = (text: string) =>
  escapeHtml(text).replace(/https?:\/\/[^\s<>"')]+/g, (url) => `<a href="${url}">${url}</a>`);

/** The embedded stack's outbox: every mail the SMTP capture server received, newest first. */
export function outboxRoutes(outbox: SmtpCapture): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/dev/outbox', (ctx) => {
    const messages = outbox.messages().reverse();
    const items = messages.map(
      (m) => `<article>
  <h2>${escapeHtml(m.subject)}</h2>
  <p class="meta">#${m.id} · to ${escapeHtml(m.to.join(', '))} · from ${escapeHtml(m.from)} · ${m.receivedAt.toISOString()}</p>
  <pre>${linkify(m.text)}</pre>
</article>`,
    );
    ctx.type = 'html';
    ctx.body = page('Outbox', `<p>${messages.length} message(s) received by the development SMTP server. <a href="/dev/outbox">Refresh</a></p>${items.join('\n') || '<p>No mail yet.</p>'}`);
  });
  router.get('/dev/outbox/messages', (ctx) => {
    ctx.body = { messages: outbox.messages() };
  });
  return router;
}
