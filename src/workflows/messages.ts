import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { EmailChangePolicy } from '../config';

/** Shared by the API and the workflow: message definitions and the data they carry (no workflow code). */

export type Purpose = 'new' | 'old';
export type ChangeKind = 'ADD' | 'UPDATE';
export type ChangeStateName = 'REQUESTED' | 'APPROVED' | 'DECLINED' | 'EXPIRED' | 'CANCELLED' | 'SUPERSEDED';

/** Who asked, as the mails say it: never text the requester chose (R-MAIL, no attacker text in mail). */
export interface RequestedBy {
  method: 'password' | 'biometric' | 'idToken';
  ip?: string;
  /** A plain device name from a fixed vocabulary ("Chrome on Android"), never the raw User-Agent. */
  device?: string;
}

export interface EmailChangeInput {
  changeId: string;
  userId: string;
  /** The API's view when it started the run (its 202 answer); the workflow acts on `RecordedRequest`. */
  kind: ChangeKind;
  newEmail: string;
  newEmailNormalized: string;
  oldEmail: string | null;
  oldEmailVerified: boolean;
  /** R-OLD: the old address is verified and CONFIRM_OLD_EMAIL is on. */
  confirmOld: boolean;
  /** Epoch ms, from the API's clock; createdAt of the request. */
  requestedAt: number;
  requestedBy: RequestedBy;
  /** Pinned at start, so a later config change never weakens a request in flight. */
  policy: EmailChangePolicy;
  /**
   * The workflow's command shape, pinned at start like the policy (issue #12): 2 = PostgreSQL steps as
   * local activities; 3 = also the start's steps in one of them (`startRequest`), one timer at a time
   * for the reminder and the deadline, and no patch marker; 4 = a change's two mails in one activity
   * whenever both go out (`sendVerificationMails`). Runs started before carry none and replay as
   * they were recorded.
   */
  shape?: 2 | 3 | 4;
  /** Issue #15 item 5: the session that asked (sessions.id), kept when the approved change revokes the others. */
  sessionId?: string;
  /**
   * Issue #15 item 7: each verification mail also carries a typed code; wrong codes allowed per request.
   * Set only for runs started since (older runs issue no codes and replay as they were recorded).
   */
  verificationCode?: { maxAttempts: number };
}

/** The shape the API starts new runs with. */
export const CURRENT_SHAPE = 4;
/** A run's shape: 1 for runs started before shapes existed. */
export const shapeOf = (input: Pick<EmailChangeInput, 'shape'>): number => input.shape ?? 1;

/** The outbox key of a link's mail: the change, the address it confirms and which send of that link it is. */
export const messageKeyOf = (changeId: string, purpose: Purpose, sendNo: number): string => `${changeId}:${purpose}:${sendNo}`;

/** A link prepareVerificationLink made: only its verifier and expiry leave PostgreSQL (and the typed code's verifier). */
export interface PreparedLink {
  verifier: string;
  linkExpiresAt: number;
  codeVerifier?: string | null;
}

/** An undo window of the user's that is still open (issue #15), for the run that takes it over. */
export interface OpenRevertWindow {
  changeId: string;
  verifier: string;
  until: number;
}

/** What recordRequest decided under the user's row lock: the kind and the old address that must confirm. */
export interface RecordedRequest {
  recorded: boolean;
  kind: ChangeKind;
  oldEmail: string | null;
  oldEmailVerified: boolean;
  confirmOld: boolean;
}

/** Shape 3's first step: the request recorded, the first link of each address that must confirm prepared, open undo windows found. */
export interface StartedRequest extends RecordedRequest {
  links: { new?: PreparedLink; old?: PreparedLink };
  openWindows: OpenRevertWindow[];
}

/** One mail's outcome in `sendVerificationMails` (shape 4): sent, or the error its send failed with. */
export type SendOutcome = { sentAt: string } | { error: string; nonRetryable: boolean };

export type DeliveryStatus = 'pending' | 'sending' | 'retrying' | 'sent' | 'failed';
export interface Delivery {
  status: DeliveryStatus;
  attempts: number;
  lastError?: string;
  sentAt?: string;
}

export interface ChangeStatus {
  id: string;
  state: ChangeStateName;
  kind: ChangeKind;
  newEmail: string;
  oldEmail: string | null;
  confirmations: { new: boolean; old: boolean | null };
  createdAt: string;
  expiresAt: string;
  linkExpiresAt: string | null;
  resendAvailableAt: string | null;
  resendsLeft: number;
  delivery: { new: Delivery; old?: Delivery };
  reason: string | null;
}

/**
 * A message names the change it is for, so a link can never act on a newer request of the user;
 * the signed-in user's own resend or cancel leaves it out and acts on whatever request is open.
 */
export interface ChangeRef {
  changeId?: string;
}
export interface VerifyRequest {
  changeId: string;
  purpose: Purpose;
  /** SHA-256 of the link's token; the workflow keeps only SHA-256 of this, so nothing stored can stand in for it. */
  proof: string;
}
/** What a link would do if confirmed now (the link page asks before showing its button). */
export type LinkCheck = { ok: true; confirmed: boolean } | { ok: false; type: string; reason?: LinkDeadReason; message: string };
export interface VerifyResult {
  alreadyConfirmed: boolean;
  status: ChangeStatus;
}

/** Why a link no longer works (R-LINK); carried as `details.reason` of LINK_EXPIRED. */
export type LinkDeadReason = 'expired' | 'resent' | 'superseded' | 'cancelled' | 'finished';

/** Why a request ended DECLINED; carried at the start of its `reason`. */
export const DeclineCode = {
  emailTaken: 'EMAIL_TAKEN',
  accountEmailChanged: 'ACCOUNT_EMAIL_CHANGED',
} as const;

/** Failure types the workflow's update validators raise; the API maps them to R-ERR codes. */
export const FailureType = {
  invalidToken: 'INVALID_TOKEN',
  linkExpired: 'LINK_EXPIRED',
  rateLimited: 'RATE_LIMITED',
  notPending: 'NOT_PENDING',
  beingApplied: 'BEING_APPLIED',
  /** Issue #15 item 7: a wrong typed code (`details.attemptsLeft`); codes no longer accepted for the request. */
  invalidCode: 'INVALID_CODE',
  codeLocked: 'CODE_LOCKED',
  /** Issue #15: an undo the account cannot take (its previous address is now another account's). */
  revertRefused: 'REVERT_REFUSED',
} as const;

export const statusQuery = defineQuery<ChangeStatus>('status');
export const linkQuery = defineQuery<LinkCheck, [VerifyRequest]>('link');
export const verifyUpdate = defineUpdate<VerifyResult, [VerifyRequest]>('verify');
export const resendUpdate = defineUpdate<ChangeStatus, [ChangeRef]>('resend');
export const cancelUpdate = defineUpdate<ChangeStatus, [ChangeRef]>('cancel');
/** Sent with the start (update-with-start): answers once the run has recorded itself, so the API's 202 is what PostgreSQL says. */
export const recordedUpdate = defineUpdate<ChangeStatus>('recorded');

/** Issue #15 item 4: the old address's undo of an approved change, with its link's proof (as VerifyRequest). */
export interface RevertRequest {
  changeId: string;
  proof: string;
}
export interface RevertResult {
  /** A second click: the first one restored the address. */
  alreadyReverted: boolean;
  restoredEmail: string;
  blockedUntil: string;
}
export const revertUpdate = defineUpdate<RevertResult, [RevertRequest]>('revert');

/** Issue #15 item 7: a typed code, as HMAC proofs (one per token key; src/verification-codes.ts), for the signed-in user's request. */
export interface VerifyCodeRequest {
  changeId: string;
  proofs: string[];
}
export const verifyCodeUpdate = defineUpdate<VerifyResult & { purpose: Purpose }, [VerifyCodeRequest]>('verifyCode');

/** One workflow per user at a time: Temporal itself refuses a second running one. */
export const workflowIdFor = (userId: string) => `email-change-${userId}`;
