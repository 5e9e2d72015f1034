import Router from '@koa/router';
import type { EmailChangeService, LinkView } from '../../email-change/service';
import type { LinkDeadReason } from '../../workflows/messages';
import { AppError } from '../errors';
import { escapeHtml, page } from '../html';
import { toAppError, type AppContext, type AppState } from '../middleware';
import { linkTokenForm, linkTokenQuery } from '../schemas';

const startOver = '<p>To try again, open the app and start the email change from your profile.</p>';

const tokenForm = (action: string, token: string, label: string) =>
  `<form method="post" action="${action}"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit">${escapeHtml(label)}</button></form>`;

const DEAD_TEXT: Record<string, [string, string]> = {
  expired: ['This link has expired', 'Links work for a limited time.'],
  resent: ['A newer link was sent', 'Only the most recent link works. Use the latest email we sent you.'],
  superseded: ['This request was replaced', 'A newer email change request replaced this one, so its links no longer work.'],
  cancelled: ['This request was cancelled', 'The email change was cancelled, so its links no longer work.'],
  finished: ['This request is finished', 'This email change is already complete or closed.'],
};

function render(ctx: AppContext, status: number, title: string, body: string) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = page(title, body);
}

function renderView(ctx: AppContext, view: LinkView, token: string) {
  switch (view.kind) {
    case 'confirm':
      return render(
        ctx,
        200,
        view.purpose === 'new' ? 'Confirm your email address' : 'Confirm the change of your account email',
        `<p>Press the button to confirm. Nothing changes until you do.</p>${tokenForm('/verify-email', token, 'Confirm')}
<p class="meta">If you did not ask for this, close this page: nothing will change.</p>`,
      );
    case 'already-confirmed':
      return render(ctx, 200, 'Already confirmed', '<p>This address is already confirmed. There is nothing more to do here.</p>');
    case 'declined':
      return view.code === 'EMAIL_TAKEN'
        ? render(ctx, 409, 'This address belongs to another account', `<p>Another account confirmed this email address first, so it cannot be added to yours.</p>${startOver}`)
        : render(ctx, 409, 'The account email changed meanwhile', `<p>The account's email address changed while this request was open, so this request was stopped. Nothing else changed.</p>${startOver}`);
    case 'invalid':
      return render(ctx, 400, 'This link is not valid', `<p>The link is incomplete or was changed. Open it straight from the email, or copy the whole address.</p>${startOver}`);
    case 'dead': {
      const [title, text] = DEAD_TEXT[view.reason] ?? DEAD_TEXT.finished!;
      const action = view.canResend ? `${tokenForm('/verify-email/resend', token, 'Send a new link')}` : startOver;
      return render(ctx, 410, title, `<p>${text}</p>${action}`);
    }
  }
}

/** Maps a failure of the confirm/resend POST to the page that explains it. */
function viewForError(err: AppError): LinkView | undefined {
  const reason = (err.details?.reason as LinkDeadReason | undefined) ?? 'expired';
  if (err.code === 'INVALID_TOKEN') return { kind: 'invalid' };
  if (err.code === 'EMAIL_TAKEN' || err.code === 'ACCOUNT_EMAIL_CHANGED') return { kind: 'declined', code: err.code };
  if (err.code === 'LINK_EXPIRED') return { kind: 'dead', reason, canResend: reason === 'expired' || reason === 'resent' };
  if (err.code === 'NO_PENDING_CHANGE' || err.code === 'CHANGE_BEING_APPLIED') return { kind: 'dead', reason: 'finished', canResend: false };
  return undefined;
}

/** Link pages answer in HTML whatever happens: "try again" when a service is out of reach, never raw JSON. */
function renderFailure(ctx: AppContext, err: unknown) {
  const failure = toAppError(err);
  if (failure.status === 503) {
    ctx.set('Retry-After', failure.headers?.['Retry-After'] ?? '5');
    return render(ctx, 503, 'Please try again in a moment', '<p>We could not reach part of our service just now. Nothing was changed. Reload this page in a minute; your link still works.</p>');
  }
  if (failure.status >= 500) ctx.state.log?.error({ err }, 'link page failed');
  return render(ctx, failure.status, 'Something went wrong', `<p>Nothing was changed. Open the link from the email again in a little while.</p>${startOver}`);
}

/** The token from the query or the form (the schemas the OpenAPI document shows); anything else is no token. */
const tokenOf = (schema: typeof linkTokenQuery | typeof linkTokenForm, input: unknown) => {
  const parsed = schema.safeParse(input);
  return (parsed.success && parsed.data.token) || '';
};

/**
 * R-VERIFY / R-LINK pages. GET only looks (mail scanners prefetch links); the person's button
 * POSTs. Pages are plain HTML, no scripts, and never show account data.
 */
export function linkPageRoutes(service: EmailChangeService): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/verify-email', async (ctx) => {
    const token = tokenOf(linkTokenQuery, ctx.query);
    try {
      renderView(ctx, await service.inspectLink(token), token);
    } catch (err) {
      renderFailure(ctx, err);
    }
  });

  router.post('/verify-email', async (ctx) => {
    const token = tokenOf(linkTokenForm, ctx.request.body);
    try {
      const result = await service.verify(token);
      if (result.alreadyConfirmed) return renderView(ctx, { kind: 'already-confirmed' }, token);
      const done = result.state === 'APPROVED';
      render(
        ctx,
        200,
        done ? 'Your email address is confirmed' : 'Confirmed, one step left',
        done
          ? '<p>Thank you. Your account now uses this email address. You can close this page.</p>'
          : '<p>Thank you. The change also needs the confirmation link sent to your other address; it completes once that is confirmed too.</p>',
      );
    } catch (err) {
      const view = err instanceof AppError ? viewForError(err) : undefined;
      if (!view) return renderFailure(ctx, err);
      renderView(ctx, view, token);
    }
  });

  router.post('/verify-email/resend', async (ctx) => {
    const token = tokenOf(linkTokenForm, ctx.request.body);
    try {
      await service.resendByToken(token);
      render(ctx, 202, 'A new link is on its way', '<p>We sent a new link. Open the newest email; earlier links no longer work.</p>');
    } catch (err) {
      if (err instanceof AppError && err.code === 'RATE_LIMITED') {
        if (err.headers?.['Retry-After']) ctx.set('Retry-After', err.headers['Retry-After']);
        return render(ctx, 429, 'Please wait', `<p>${escapeHtml(err.message)}. Try again in a little while.</p>`);
      }
      const view = err instanceof AppError ? viewForError(err) : undefined;
      if (!view) return renderFailure(ctx, err);
      renderView(ctx, view.kind === 'dead' ? { ...view, canResend: false } : view, token);
    }
  });

  return router;
}
