import type { ChangeStateName, ChangeStatus, Delivery, EmailChangeInput, Purpose } from './messages';

/** Pure request state and its R-STATUS view; used by the workflow and, for the 202 answer, by the API. */

export interface LinkState {
  purpose: Purpose;
  to: string;
  /** SHA-256 of the current token; null while a (re)send is under way. */
  tokenHash: string | null;
  /** Hashes of links a resend replaced, to tell "a newer link was sent" from "unknown". */
  replacedHashes: string[];
  linkExpiresAt: number | null;
  confirmedAt: number | null;
  /** How many links of this purpose were sent; part of each mail's idempotency key. */
  sends: number;
  delivery: Delivery;
}

export interface ChangeState {
  input: EmailChangeInput;
  state: ChangeStateName;
  reason: string | null;
  links: { new: LinkState; old?: LinkState };
  resends: number;
  lastSendAt: number;
  cancelRequested: boolean;
}

const newLink = (purpose: Purpose, to: string): LinkState => ({
  purpose,
  to,
  tokenHash: null,
  replacedHashes: [],
  linkExpiresAt: null,
  confirmedAt: null,
  sends: 0,
  delivery: { status: 'pending', attempts: 0 },
});

export function initialState(input: EmailChangeInput): ChangeState {
  return {
    input,
    state: 'REQUESTED',
    reason: null,
    links: {
      new: newLink('new', input.newEmail),
      ...(input.confirmOld && input.oldEmail ? { old: newLink('old', input.oldEmail) } : {}),
    },
    resends: 0,
    lastSendAt: input.requestedAt,
    cancelRequested: false,
  };
}

export const requiredLinks = (s: ChangeState): LinkState[] => (s.links.old ? [s.links.new, s.links.old] : [s.links.new]);
export const allConfirmed = (s: ChangeState) => requiredLinks(s).every((l) => l.confirmedAt !== null);
export const deadlineOf = (s: ChangeState) => s.input.requestedAt + s.input.policy.changeTtlMs;
export const resendAvailableAt = (s: ChangeState) => s.lastSendAt + s.input.policy.resendCooldownMs;
export const resendsLeft = (s: ChangeState) => Math.max(0, s.input.policy.maxResends - s.resends);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The R-STATUS change object. */
export function statusOf(s: ChangeState): ChangeStatus {
  const open = s.state === 'REQUESTED';
  const pendingExpiries = requiredLinks(s)
    .filter((l) => l.confirmedAt === null && l.linkExpiresAt !== null)
    .map((l) => l.linkExpiresAt!);
  return {
    id: s.input.changeId,
    state: s.state,
    kind: s.input.kind,
    newEmail: s.input.newEmail,
    oldEmail: s.input.oldEmail,
    confirmations: { new: s.links.new.confirmedAt !== null, old: s.links.old ? s.links.old.confirmedAt !== null : null },
    createdAt: new Date(s.input.requestedAt).toISOString(),
    expiresAt: new Date(deadlineOf(s)).toISOString(),
    linkExpiresAt: open && pendingExpiries.length > 0 ? iso(Math.min(...pendingExpiries)) : null,
    resendAvailableAt: open && resendsLeft(s) > 0 && !allConfirmed(s) ? iso(resendAvailableAt(s)) : null,
    resendsLeft: open ? resendsLeft(s) : 0,
    delivery: { new: s.links.new.delivery, ...(s.links.old ? { old: s.links.old.delivery } : {}) },
    reason: s.reason,
  };
}
