import Router from '@koa/router';
import type pg from 'pg';
import type { Config } from '../../config';
import type { EmailChangeService, LinkView } from '../../email-change/service';
import { Localizer } from '../../i18n';
import { maskEmail, type Reader } from '../../mail/templates';
import { verifyLinkToken } from '../../tokens';
import type { ChangeKind, ChangeStateName, LinkDeadReason, Purpose } from '../../workflows/messages';
import { AppError } from '../errors';
import { brandedPage, escapeHtml } from '../html';
import { toAppError, type AppContext, type AppState } from '../middleware';
import { linkTokenForm, linkTokenQuery } from '../schemas';

/** Every page a link from a mail can lead to (issue #15: each one branded and in the reader's language). */
export type PageView =
  | { kind: 'confirm'; purpose: Purpose; change: ChangeKind; newEmail: string; oldEmail: string | null; linkExpiresAt: number; token: string }
  | { kind: 'already-confirmed' }
  | { kind: 'invalid' }
  | { kind: 'dead'; reason: LinkDeadReason; canResend: boolean; token: string }
  | { kind: 'declined'; code: string }
  /** After the Confirm button: `state` REQUESTED means the other address must still confirm. */
  | { kind: 'confirmed'; purpose: Purpose; state: ChangeStateName; newEmail: string; oldEmail: string | null }
  | { kind: 'resent' }
  | { kind: 'rate-limited'; retryAfterSeconds: number; capped: boolean; now: number; token: string }
  | { kind: 'unavailable' }
  | { kind: 'error'; status: number };

export interface RenderedPage {
  status: number;
  title: string;
  html: string;
}

const DEAD_REASONS: readonly LinkDeadReason[] = ['expired', 'resent', 'superseded', 'cancelled', 'finished'];

/** One page, whole: what the routes answer and what scripts/screenshots.ts photographs. */
export function renderLinkPage(l: Localizer, reader: Reader, view: PageView): RenderedPage {
  const { lng } = reader;
  const p = (key: string, vars: Record<string, string | undefined> = {}, strong: string[] = [], cls?: string) =>
    `<p${cls ? ` class="${cls}"` : ''}>${l.html(lng, key, vars, strong)}</p>`;
  const form = (action: string, token: string, labelKey: string) =>
    `<form method="post" action="${action}"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit">${escapeHtml(l.t(lng, labelKey))}</button></form>`;
  const startOver = p('common.startOver');
  const done = (status: number, titleKey: string, ...body: string[]): RenderedPage => {
    const title = l.t(lng, titleKey);
    return { status, title, html: brandedPage(l, lng, title, body.join('\n')) };
  };

  switch (view.kind) {
    case 'confirm': {
      const intro =
        view.purpose === 'old'
          ? p('page.confirm.introOld', { from: maskEmail(view.oldEmail ?? ''), to: maskEmail(view.newEmail) }, ['from', 'to'])
          : p(view.change === 'ADD' ? 'page.confirm.introAdd' : 'page.confirm.introUpdate', { email: view.newEmail }, ['email']);
      return done(
        200,
        view.purpose === 'old' ? 'page.confirm.titleOld' : 'page.confirm.titleNew',
        intro,
        p('page.confirm.press'),
        form('/verify-email', view.token, 'page.confirm.button'),
        p('page.confirm.expires', { date: l.date(lng, view.linkExpiresAt, reader.timeZone) }, ['date'], 'meta'),
        p('page.confirm.notYou', {}, [], 'meta'),
      );
    }
    case 'already-confirmed':
      return done(200, 'page.alreadyConfirmed.title', p('page.alreadyConfirmed.body'));
    case 'declined':
      return view.code === 'EMAIL_TAKEN'
        ? done(409, 'page.taken.title', p('page.taken.body'), startOver)
        : done(409, 'page.accountChanged.title', p('page.accountChanged.body'), startOver);
    case 'invalid':
      return done(400, 'page.invalid.title', p('page.invalid.body'), startOver);
    case 'dead': {
      const reason = DEAD_REASONS.includes(view.reason) ? view.reason : 'finished';
      const next = view.canResend ? [p('page.dead.resendHint'), form('/verify-email/resend', view.token, 'page.dead.resendButton')] : [startOver];
      return done(410, `page.dead.${reason}.title`, p(`page.dead.${reason}.body`), ...next);
    }
    case 'confirmed': {
      // The truth for each step: whose confirmation this was, whether the change is applied, and to which address.
      if (view.state === 'APPROVED') {
        return view.purpose === 'new'
          ? done(200, 'page.confirmed.appliedTitle', p('page.confirmed.appliedNew', { email: view.newEmail }, ['email']))
          : done(200, 'page.confirmed.completeTitle', p('page.confirmed.appliedOld', { other: maskEmail(view.newEmail) }, ['other']));
      }
      const waiting =
        view.purpose === 'new'
          ? p('page.confirmed.waitingForOld', { email: view.newEmail, other: maskEmail(view.oldEmail ?? '') }, ['email', 'other'])
          : p('page.confirmed.waitingForNew', { other: maskEmail(view.newEmail) }, ['other']);
      return done(200, 'page.confirmed.oneLeftTitle', waiting, p('page.confirmed.notYet'));
    }
    case 'resent':
      return done(202, 'page.resent.title', p('page.resent.body'));
    case 'rate-limited':
      return view.capped
        ? done(429, 'page.rateLimited.title', p('page.rateLimited.capped'), startOver)
        : done(
            429,
            'page.rateLimited.title',
            p('page.rateLimited.wait', { wait: l.wait(lng, view.retryAfterSeconds), date: l.date(lng, view.now + view.retryAfterSeconds * 1000, reader.timeZone) }, ['wait', 'date']),
            form('/verify-email/resend', view.token, 'page.dead.resendButton'),
          );
    case 'unavailable':
      return done(503, 'page.unavailable.title', p('page.unavailable.body'));
    case 'error':
      return done(view.status, 'page.error.title', p('page.error.body'), startOver);
  }
}

/** What the page needs to know of a link's request: its addresses, and its account's language and time zone. */
interface LinkContext {
  purpose: Purpose;
  linkExpiresAt: number;
  change?: { kind: ChangeKind; newEmail: string; oldEmail: string | null };
  locale: string | null;
  timeZone: string | null;
}

/** Maps a failure of the confirm/resend POST to the page that explains it. */
function viewForError(err: AppError, token: string): PageView | undefined {
  const reason = (err.details?.reason as LinkDeadReason | undefined) ?? 'expired';
  if (err.code === 'INVALID_TOKEN') return { kind: 'invalid' };
  if (err.code === 'EMAIL_TAKEN' || err.code === 'ACCOUNT_EMAIL_CHANGED') return { kind: 'declined', code: err.code };
  if (err.code === 'LINK_EXPIRED') return { kind: 'dead', reason, canResend: reason === 'expired' || reason === 'resent', token };
  if (err.code === 'NO_PENDING_CHANGE' || err.code === 'CHANGE_BEING_APPLIED') return { kind: 'dead', reason: 'finished', canResend: false, token };
  return undefined;
}

/** The token from the query or the form (the schemas the OpenAPI document shows); anything else is no token. */
const tokenOf = (schema: typeof linkTokenQuery | typeof linkTokenForm, input: unknown) => {
  const parsed = schema.safeParse(input);
  return (parsed.success && parsed.data.token) || '';
};

/**
 * R-VERIFY / R-LINK pages. GET only looks (mail scanners prefetch links); the person's button
 * POSTs. Pages are plain HTML, no scripts, and never show account data beyond the link's own
 * request: the address it confirms (the other one masked).
 */
export function linkPageRoutes(service: EmailChangeService, config: Config, pool: pg.Pool): Router<AppState> {
  const router = new Router<AppState>();
  const localizer = new Localizer(config.branding);

  /** The link's request and its account's language; nothing when the token is not ours or PostgreSQL does not answer. */
  async function contextOf(token: string): Promise<LinkContext | undefined> {
    const claims = verifyLinkToken(config.tokenKeys, token);
    if (!claims) return undefined;
    const { rows } = await pool
      .query<{ kind: ChangeKind; newEmail: string; oldEmail: string | null; locale: string | null; timeZone: string | null }>(
        `SELECT r.kind, r.new_email AS "newEmail", r.old_email AS "oldEmail", u.locale, u.time_zone AS "timeZone"
         FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1`,
        [claims.changeId],
      )
      .catch(() => ({ rows: [] }));
    const row = rows[0];
    return {
      purpose: claims.purpose,
      linkExpiresAt: claims.expiresAt,
      change: row && { kind: row.kind, newEmail: row.newEmail, oldEmail: row.oldEmail },
      locale: row?.locale ?? null,
      timeZone: row?.timeZone ?? null,
    };
  }

  function render(ctx: AppContext, link: LinkContext | undefined, view: PageView) {
    const reader: Reader = { lng: localizer.pick(link?.locale, ctx.get('Accept-Language')), timeZone: link?.timeZone };
    const page = renderLinkPage(localizer, reader, view);
    ctx.status = page.status;
    ctx.type = 'html';
    ctx.set('Content-Language', reader.lng);
    ctx.vary('Accept-Language');
    ctx.body = page.html;
  }

  /** Link pages answer in HTML whatever happens: "try again" when a service is out of reach, never raw JSON. */
  function renderFailure(ctx: AppContext, link: LinkContext | undefined, err: unknown) {
    const failure = toAppError(err);
    if (failure.status === 503) {
      ctx.set('Retry-After', failure.headers?.['Retry-After'] ?? '5');
      return render(ctx, link, { kind: 'unavailable' });
    }
    if (failure.status >= 500) ctx.state.log?.error({ err }, 'link page failed');
    return render(ctx, link, { kind: 'error', status: failure.status });
  }

  /** The page for what the service found, with what the confirm page says about the request. */
  function fromLinkView(view: LinkView, link: LinkContext | undefined, token: string): PageView {
    switch (view.kind) {
      case 'confirm':
        if (!link?.change) return { kind: 'unavailable' }; // the row was just read; PostgreSQL went away since
        return { kind: 'confirm', purpose: view.purpose, change: link.change.kind, newEmail: link.change.newEmail, oldEmail: link.change.oldEmail, linkExpiresAt: link.linkExpiresAt, token };
      case 'dead':
        return { ...view, token };
      default:
        return view;
    }
  }

  router.get('/verify-email', async (ctx) => {
    const token = tokenOf(linkTokenQuery, ctx.query);
    const link = await contextOf(token);
    try {
      const view = fromLinkView(await service.inspectLink(token), link, token);
      if (view.kind === 'unavailable') ctx.set('Retry-After', '5');
      render(ctx, link, view);
    } catch (err) {
      renderFailure(ctx, link, err);
    }
  });

  router.post('/verify-email', async (ctx) => {
    const token = tokenOf(linkTokenForm, ctx.request.body);
    const link = await contextOf(token);
    try {
      const result = await service.verify(token);
      if (result.alreadyConfirmed) return render(ctx, link, { kind: 'already-confirmed' });
      render(ctx, link, { kind: 'confirmed', purpose: link?.purpose ?? 'new', state: result.state, newEmail: result.newEmail, oldEmail: result.oldEmail });
    } catch (err) {
      const view = err instanceof AppError ? viewForError(err, token) : undefined;
      if (!view) return renderFailure(ctx, link, err);
      render(ctx, link, view);
    }
  });

  router.post('/verify-email/resend', async (ctx) => {
    const token = tokenOf(linkTokenForm, ctx.request.body);
    const link = await contextOf(token);
    try {
      await service.resendByToken(token);
      render(ctx, link, { kind: 'resent' });
    } catch (err) {
      if (err instanceof AppError && err.code === 'RATE_LIMITED') {
        const retryAfter = err.headers?.['Retry-After'];
        if (retryAfter) ctx.set('Retry-After', retryAfter);
        const seconds = Number(err.details?.retryAfterSeconds ?? retryAfter ?? 60);
        return render(ctx, link, { kind: 'rate-limited', retryAfterSeconds: seconds, capped: err.details?.resendsLeft === 0, now: Date.now(), token });
      }
      const view = err instanceof AppError ? viewForError(err, token) : undefined;
      if (!view) return renderFailure(ctx, link, err);
      render(ctx, link, view.kind === 'dead' ? { ...view, canResend: false } : view);
    }
  });

  return router;
}
