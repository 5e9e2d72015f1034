import Router from '@koa/router';
import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config';
import { RevertService, type RevertView } from '../../email-change/revert';
import { Localizer } from '../../i18n';
import { maskEmail, type Reader } from '../../mail/templates';
import { brandedPage, escapeHtml } from '../html';
import { toAppError, type AppContext, type AppState } from '../middleware';
import { linkTokenForm, linkTokenQuery } from '../schemas';
import { renderLinkPage, type RenderedPage } from './link-pages';

/** Issue #15 item 4: the pages of the old address's undo link ("this wasn't me"). */
export type RevertPageView =
  | { kind: 'revert-confirm'; oldEmail: string; newEmail: string; until: number; token: string }
  | { kind: 'reverted'; email: string; blockedUntil: number }
  | { kind: 'revert-already' }
  | { kind: 'revert-closed' }
  | { kind: 'revert-refused' }
  | { kind: 'invalid' }
  | { kind: 'unavailable' }
  | { kind: 'error'; status: number };

export function renderRevertPage(l: Localizer, reader: Reader, view: RevertPageView): RenderedPage {
  const { lng } = reader;
  const p = (key: string, vars: Record<string, string | undefined> = {}, strong: string[] = [], cls?: string) =>
    `<p${cls ? ` class="${cls}"` : ''}>${l.html(lng, key, vars, strong)}</p>`;
  const done = (status: number, titleKey: string, ...body: string[]): RenderedPage => {
    const title = l.t(lng, titleKey);
    return { status, title, html: brandedPage(l, lng, title, body.join('\n')) };
  };
  switch (view.kind) {
    case 'revert-confirm':
      return done(
        200,
        'page.revert.confirmTitle',
        p('page.revert.confirmIntro', { from: maskEmail(view.oldEmail), to: maskEmail(view.newEmail) }, ['from', 'to']),
        p('page.revert.effects'),
        `<form method="post" action="/undo-email-change"><input type="hidden" name="token" value="${escapeHtml(view.token)}"><button type="submit">${escapeHtml(l.t(lng, 'page.revert.button'))}</button></form>`,
        p('page.revert.expires', { date: l.date(lng, view.until, reader.timeZone) }, ['date'], 'meta'),
      );
    case 'reverted':
      return done(
        200,
        'page.revert.doneTitle',
        p('page.revert.doneBody', { email: view.email }, ['email']),
        p('page.revert.doneBlocked', { date: l.date(lng, view.blockedUntil, reader.timeZone) }, ['date']),
      );
    case 'revert-already':
      return done(200, 'page.revert.alreadyTitle', p('page.revert.alreadyBody'));
    case 'revert-closed':
      return done(410, 'page.revert.closedTitle', p('page.revert.closedBody'));
    case 'revert-refused':
      return done(409, 'page.revert.refusedTitle', p('page.revert.refusedBody'));
    default:
      return renderLinkPage(l, reader, view);
  }
}

const tokenOf = (schema: typeof linkTokenQuery | typeof linkTokenForm, input: unknown) => {
  const parsed = schema.safeParse(input);
  return (parsed.success && parsed.data.token) || '';
};

/** GET only looks (mail scanners prefetch links); the person's button POSTs and acts. Plain HTML, no scripts. */
export function revertPageRoutes(config: Config, pool: pg.Pool, temporal: Client): Router<AppState> {
  const router = new Router<AppState>();
  const localizer = new Localizer(config.branding);
  const service = new RevertService(pool, temporal, config.tokenKeys);

  function render(ctx: AppContext, account: { locale: string | null; timeZone: string | null } | undefined, view: RevertPageView) {
    const reader: Reader = { lng: localizer.pick(account?.locale, ctx.get('Accept-Language')), timeZone: account?.timeZone };
    const page = renderRevertPage(localizer, reader, view);
    if (view.kind === 'unavailable') ctx.set('Retry-After', '5');
    ctx.status = page.status;
    ctx.type = 'html';
    ctx.set('Content-Language', reader.lng);
    ctx.vary('Accept-Language');
    ctx.body = page.html;
  }

  const failureView = (ctx: AppContext, err: unknown): RevertPageView => {
    const failure = toAppError(err);
    if (failure.code === 'INVALID_TOKEN') return { kind: 'invalid' };
    if (failure.code === 'LINK_EXPIRED') return { kind: 'revert-closed' };
    if (failure.code === 'REVERT_REFUSED') return { kind: 'revert-refused' };
    if (failure.status === 503) return { kind: 'unavailable' };
    if (failure.status >= 500) ctx.state.log?.error({ err }, 'undo page failed');
    return { kind: 'error', status: failure.status };
  };

  const accountOf = (view: RevertView) => (view.kind === 'invalid' ? undefined : { locale: view.locale, timeZone: view.timeZone });

  router.get('/undo-email-change', async (ctx) => {
    const token = tokenOf(linkTokenQuery, ctx.query);
    try {
      const view = await service.inspect(token);
      const account = accountOf(view);
      if (view.kind === 'confirm') return render(ctx, account, { kind: 'revert-confirm', oldEmail: view.oldEmail, newEmail: view.newEmail, until: view.until, token });
      render(ctx, account, view.kind === 'already' ? { kind: 'revert-already' } : view.kind === 'closed' ? { kind: 'revert-closed' } : { kind: 'invalid' });
    } catch (err) {
      render(ctx, undefined, failureView(ctx, err));
    }
  });

  router.post('/undo-email-change', async (ctx) => {
    const token = tokenOf(linkTokenForm, ctx.request.body);
    const account = await service.inspect(token).then(accountOf, () => undefined);
    try {
      const result = await service.revert(token);
      if (result.alreadyReverted) return render(ctx, account, { kind: 'revert-already' });
      render(ctx, account, { kind: 'reverted', email: result.restoredEmail, blockedUntil: Date.parse(result.blockedUntil) });
    } catch (err) {
      render(ctx, account, failureView(ctx, err));
    }
  });

  return router;
}
