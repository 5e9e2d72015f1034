import { describe, expect, it } from 'vitest';
import { rowStatus, type RequestRow } from '../../src/email-change/requests';

const approved: RequestRow = {
  id: '00000000-0000-4000-8000-000000000001',
  userId: '00000000-0000-4000-8000-000000000002',
  state: 'APPROVED',
  kind: 'UPDATE',
  newEmail: 'b@example.com',
  newEmailNormalized: 'b@example.com',
  oldEmail: 'a@example.com',
  needsOld: true,
  newConfirmedAt: new Date('2026-11-26T10:00:00Z'),
  oldConfirmedAt: new Date('2026-11-26T10:01:00Z'),
  createdAt: new Date('2026-11-26T09:59:00Z'),
  expiresAt: new Date('2026-11-27T09:59:00Z'),
  // Recorded by the outcome while the old address's send was still in flight.
  delivery: { new: { status: 'sent', attempts: 1 }, old: { status: 'sending', attempts: 1 } },
  reason: null,
  resends: 0,
  lastSendAt: new Date('2026-11-26T09:59:00Z'),
  resendCooldownMs: 60_000,
  maxResends: 5,
} as RequestRow;

describe('the status of a finished request', () => {
  it('takes delivery from the mail rows, which a send that finished after the outcome updated', () => {
    const mails = [
      { purpose: 'new' as const, status: 'sent' as const, attempts: 1, lastError: null, sentAt: '2026-11-26T09:59:01Z', linkExpiresAt: null },
      { purpose: 'old' as const, status: 'sent' as const, attempts: 2, lastError: null, sentAt: '2026-11-26T10:01:30Z', linkExpiresAt: null },
    ];
    expect(rowStatus({ ...approved, mails }).delivery).toEqual({
      new: { status: 'sent', attempts: 1, sentAt: '2026-11-26T09:59:01.000Z' },
      old: { status: 'sent', attempts: 2, sentAt: '2026-11-26T10:01:30.000Z' },
    });
  });

  it('falls back to what the outcome recorded when no mail row is read', () => {
    expect(rowStatus(approved).delivery).toEqual(approved.delivery);
    expect(rowStatus({ ...approved, mails: null, needsOld: false, delivery: {} }).delivery).toEqual({ new: { status: 'pending', attempts: 0 } });
  });
});
