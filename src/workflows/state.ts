import type { ChangeKind, ChangeStateName, ChangeStatus, Delivery, EmailChangeInput, Purpose, RecordedRequest, RevertResult } from './messages';
import type { CodeState } from './typed-code';

/** Pure request state and its R-STATUS view; used by the workflow and, for the 202 answer, by the API. */

export interface LinkState {
  purpose: Purpose;
  to: string;
  /** Verifier of the current token (see link-proof.ts); null while a (re)send is under way. */
  verifier: string | null;
  /** Verifiers of links a resend replaced, to tell "a newer link was sent" from "unknown". */
  replacedVerifiers: string[];
  linkExpiresAt: number | null;
  confirmedAt: number | null;
  /** How many links of this purpose were sent; part of each mail's idempotency key. */
  sends: number;
  /** Issue #15 item 6: the send number that is the reminder before expiry (its mail says so). */
  reminderSend?: number;
  delivery: Delivery;
}

export interface ChangeState {
  input: EmailChangeInput;
  /** Decided under the user's row lock when the request is recorded (the API's guess until then). */
  kind: ChangeKind;
  oldEmail: string | null;
  state: ChangeStateName;
  reason: string | null;
  links: { new: LinkState; old?: LinkState };
  resends: number;
  lastSendAt: number;
  cancelRequested: boolean;
  /** SMTP activities still running; the run completes only after them (see close()). */
  sendsInFlight: number;
  /** Issue #15 item 4: undo windows this run holds open (its own, and ones adopted from the run it replaced). */
  revertWindows: RevertWindow[];
  /** Issue #15 item 6: the one reminder before expiry was sent. */
  reminded: boolean;
  /** Issue #15 item 7: the typed codes' verifiers and wrong tries (src/workflows/typed-code.ts); runs with codes only. */
  codes?: CodeState;
}

/** An approved change's undo link for its old address, open until `until` on this run's timer. */
export interface RevertWindow {
  changeId: string;
  verifier: string;
  until: number;
  /** Set when the undo is claimed; `result` once it is done. */
  revertedAt: number | null;
  result?: RevertResult;
  /** Closed early: another window's undo restored the account. */
  closed: boolean;
}

const newLink = (purpose: Purpose, to: string): LinkState => ({
  purpose,
  to,
  verifier: null,
  replacedVerifiers: [],
  linkExpiresAt: null,
  confirmedAt: null,
  sends: 0,
  delivery: { status: 'pending', attempts: 0 },
});

export function initialState(input: EmailChangeInput): ChangeState {
  return {
    input,
    kind: input.kind,
    oldEmail: input.oldEmail,
    state: 'REQUESTED',
    reason: null,
    links: {
      new: newLink('new', input.newEmail),
      ...(input.confirmOld && input.oldEmail ? { old: newLink('old', input.oldEmail) } : {}),
    },
    resends: 0,
    lastSendAt: input.requestedAt,
    cancelRequested: false,
    sendsInFlight: 0,
    revertWindows: [],
    reminded: false,
  };
}

/** Applies what recordRequest decided: the kind, and whether the old address must confirm too. */
export function applyRecorded(s: ChangeState, recorded: RecordedRequest): void {
  s.kind = recorded.kind;
  s.oldEmail = recorded.oldEmail;
  if (recorded.confirmOld && recorded.oldEmail) s.links.old ??= newLink('old', recorded.oldEmail);
  else delete s.links.old;
}

export const requiredLinks = (s: ChangeState): LinkState[] => (s.links.old ? [s.links.new, s.links.old] : [s.links.new]);
export const allConfirmed = (s: ChangeState) => requiredLinks(s).every((l) => l.confirmedAt !== null);
export const deadlineOf = (s: ChangeState) => s.input.requestedAt + s.input.policy.changeTtlMs;
export const resendAvailableAt = (s: ChangeState) => s.lastSendAt + s.input.policy.resendCooldownMs;
export const resendsLeft = (s: ChangeState) => Math.max(0, s.input.policy.maxResends - s.resends);

const floorToMinute = (ms: number) => ms - (ms % 60_000);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What the R-STATUS view is made of: the workflow's state, or a pending request's rows (src/email-change/requests.ts). */
export interface StatusFacts {
  id: string;
  state: ChangeStateName;
  kind: ChangeKind;
  newEmail: string;
  oldEmail: string | null;
  reason: string | null;
  requestedAt: number;
  deadline: number;
  links: { new: LinkFacts; old?: LinkFacts };
  resends: number;
  lastSendAt: number;
  resendCooldownMs: number;
  maxResends: number;
}
export type LinkFacts = Pick<LinkState, 'confirmedAt' | 'linkExpiresAt' | 'delivery'>;

/** The R-STATUS change object. */
export const statusOf = (s: ChangeState): ChangeStatus =>
  statusView({
    id: s.input.changeId,
    state: s.state,
    kind: s.kind,
    newEmail: s.input.newEmail,
    oldEmail: s.oldEmail,
    reason: s.reason,
    requestedAt: s.input.requestedAt,
    deadline: deadlineOf(s),
    links: s.links,
    resends: s.resends,
    lastSendAt: s.lastSendAt,
    resendCooldownMs: s.input.policy.resendCooldownMs,
    maxResends: s.input.policy.maxResends,
  });

export function statusView(f: StatusFacts): ChangeStatus {
  const open = f.state === 'REQUESTED';
  const links = f.links.old ? [f.links.new, f.links.old] : [f.links.new];
  const resendsLeft = open ? Math.max(0, f.maxResends - f.resends) : 0;
  const pendingExpiries = links.filter((l) => l.confirmedAt === null && l.linkExpiresAt !== null).map((l) => l.linkExpiresAt!);
  return {
    id: f.id,
    state: f.state,
    kind: f.kind,
    newEmail: f.newEmail,
    oldEmail: f.oldEmail,
    confirmations: { new: f.links.new.confirmedAt !== null, old: f.links.old ? f.links.old.confirmedAt !== null : null },
    createdAt: new Date(f.requestedAt).toISOString(),
    expiresAt: new Date(f.deadline).toISOString(),
    // To the minute only: the exact instant is inside the token and is nobody's business but the link's.
    linkExpiresAt: open && pendingExpiries.length > 0 ? iso(floorToMinute(Math.min(...pendingExpiries))) : null,
    resendAvailableAt: resendsLeft > 0 && !links.every((l) => l.confirmedAt !== null) ? iso(f.lastSendAt + f.resendCooldownMs) : null,
    resendsLeft,
    delivery: { new: f.links.new.delivery, ...(f.links.old ? { old: f.links.old.delivery } : {}) },
    reason: f.reason,
  };
}
