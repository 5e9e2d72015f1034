import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config';
import { signedHeaders, webhookMessage, type EventRow } from '../../src/webhooks/message';

/** Issue #14: the webhook payload and its configuration (pure: no servers). */

const event: EventRow = {
  id: '42',
  changeId: '0b6f1a52-3a8e-4c59-9d55-0d7f0e1f2a3b',
  userId: '7c1e5d0e-1111-4222-8333-944455556666',
  type: 'link_sent',
  data: { changeId: '0b6f1a52-3a8e-4c59-9d55-0d7f0e1f2a3b', purpose: 'old', messageKey: 'x:old:1', delivery: { status: 'sent', attempts: 1 } },
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  newEmail: 'new@example.com',
  oldEmail: 'old@example.com',
};
const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

describe('webhook messages', () => {
  it('carry ids and states, addresses only when asked, and the same bytes on every attempt', () => {
    const plain = webhookMessage(event, false);
    expect(JSON.parse(plain.body)).toEqual({
      type: 'email_change.link_sent',
      timestamp: '2026-01-02T03:04:05.678Z',
      data: { eventId: 42, userId: event.userId, changeId: event.changeId, purpose: 'old', delivery: { status: 'sent', attempts: 1 } },
    });
    expect(plain.body).not.toContain('@');
    expect(webhookMessage(event, false)).toEqual(plain);
    const withEmail = JSON.parse(webhookMessage(event, true).body);
    expect(withEmail.data).toMatchObject({ newEmail: 'new@example.com', oldEmail: 'old@example.com', to: 'old@example.com' });
  });

  it('are signed with every configured secret; each attempt has its own timestamp', () => {
    const [a, b] = [secret(), secret()];
    const message = webhookMessage(event, false);
    const first = signedHeaders([a, b], message, new Date());
    expect(first['webhook-id']).toBe(message.id);
    expect(first['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(new Webhook(a).verify(message.body, first)).toEqual(JSON.parse(message.body));
    expect(new Webhook(b).verify(message.body, first)).toEqual(JSON.parse(message.body));
    const later = signedHeaders([a], message, new Date(Date.now() + 2_000));
    expect(later['webhook-id']).toBe(first['webhook-id']);
    expect(() => new Webhook(secret()).verify(message.body, later)).toThrow();
  });
});

describe('webhook configuration', () => {
  const base = { NODE_ENV: 'test' };
  it('is off without WEBHOOK_URL: runs then carry no webhook policy', () => {
    const config = loadConfig(base);
    expect(config.webhooks).toBeUndefined();
    expect(config.policy).not.toHaveProperty('webhooks');
  });

  it('needs a whsec_ secret with the URL, accepts several (rotation), https in production', () => {
    const s1 = secret();
    const s2 = secret();
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9/h' })).toThrow(/WEBHOOK_SECRET: is required with WEBHOOK_URL/);
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9/h', WEBHOOK_SECRET: 'hunter2' })).toThrow(/WEBHOOK_SECRET: expected 1 to 5 secrets/);
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9/h', WEBHOOK_SECRET: 'whsec_c2hvcnQ=' })).toThrow(/WEBHOOK_SECRET/);
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'ftp://x/h', WEBHOOK_SECRET: s1 })).toThrow(/WEBHOOK_URL/);
    const config = loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9/h', WEBHOOK_SECRET: `${s1}, ${s2}`, WEBHOOK_GIVE_UP: '2h' });
    expect(config.webhooks).toEqual({ url: 'http://127.0.0.1:9/h', secrets: [s1, s2], includeEmail: false, timeoutMs: 10_000, giveUpMs: 7_200_000 });
    expect(config.policy.webhooks).toEqual({ giveUpMs: 7_200_000 });
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9/h', WEBHOOK_SECRET: s1, WEBHOOK_GIVE_UP: '40d' })).toThrow(/EVENTS_RETENTION: must be longer than WEBHOOK_GIVE_UP/);
    const production = { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`, TOKEN_SECRET: randomBytes(32).toString('base64') };
    expect(() => loadConfig({ ...production, WEBHOOK_URL: 'http://hooks.example.com/h', WEBHOOK_SECRET: s1 })).toThrow(/WEBHOOK_URL: must be an https URL/);
    expect(loadConfig({ ...production, WEBHOOK_URL: 'https://hooks.example.com/h', WEBHOOK_SECRET: s1 }).webhooks?.url).toBe('https://hooks.example.com/h');
  });
});
