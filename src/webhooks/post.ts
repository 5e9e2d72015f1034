import { signedHeaders, type WebhookMessage } from './message';

export class WebhookDeliveryError extends Error {}

/**
 * One POST to the configured receiver (never to any other URL: the URL comes from WEBHOOK_URL only,
 * and redirects are not followed). A 2xx answer within `timeoutMs` is delivery; anything else throws.
 */
export async function postWebhook(opts: { url: string; secrets: string[]; timeoutMs: number; signal?: AbortSignal }, message: WebhookMessage): Promise<void> {
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await fetch(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'email-change-webhooks/1', ...signedHeaders(opts.secrets, message) },
      body: message.body,
      redirect: 'manual',
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new WebhookDeliveryError(timedOut ? `no answer within ${opts.timeoutMs} ms` : `request failed${cause ? ` (${cause})` : ''}: ${(err as Error).message}`);
  }
  // Read (and drop) the answer so the connection can be reused; its content is not ours to log.
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new WebhookDeliveryError(`the receiver answered ${res.status}`);
}
