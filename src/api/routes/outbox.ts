import Router from '@koa/router';
import { z } from 'zod';
import type { SmtpCapture } from '../../dev/smtp-capture';
import { parseInput, type AppState } from '../middleware';
import { notFound } from '../errors';
import { escapeHtml, page } from '../html';
import { stringIssue } from '../schemas';

/** How long GET /dev/outbox/next waits for the mail (below the server's 30 s request timeout). */
export const NEXT_MAIL_WAIT_MS = 20_000;

const nextQuery = z.object({
  to: z.string({ error: (issue) => (issue.code === 'invalid_type' ? 'is required' : stringIssue(issue)) }).min(3).max(320),
  after: z.coerce.number({ error: 'expected a message number' }).int().min(0).default(0),
});

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
  // A script's (or the README's) way to wait for a mail instead of racing it: long-polls up to 20 s.
  router.get('/dev/outbox/next', async (ctx) => {
    const { to, after } = parseInput(nextQuery, ctx.query, 'query');
    const mail = await outbox.nextMessage(to, after, NEXT_MAIL_WAIT_MS);
    if (!mail) throw notFound(`No mail to ${to} after message #${after} within ${NEXT_MAIL_WAIT_MS / 1000} s`);
    const link = mail.links.find((l) => URL.canParse(l) && new URL(l).searchParams.has('token'));
    ctx.body = {
      id: mail.id,
      to: mail.to,
      subject: mail.subject,
      receivedAt: mail.receivedAt,
      link: link ?? null,
      token: link ? new URL(link).searchParams.get('token') : null,
      links: mail.links,
    };
  });
  return router;
}
