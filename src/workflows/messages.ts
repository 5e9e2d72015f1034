import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { EmailChangePolicy } from '../config';

/** Shared by the API and the workflow: message definitions and the data they carry (no workflow code). */

export type Purpose = 'new' | 'old';
export type ChangeKind = 'ADD' | 'UPDATE';
export type ChangeStateName = 'REQUESTED' | 'APPROVED' | 'DECLINED' | 'EXPIRED' | 'CANCELLED' | 'SUPERSEDED';

export interface RequestedBy {
  username: string;
  method: 'password' | 'biometric';
  ip?: string;
  userAgent?: string;
}

export interface EmailChangeInput {
  changeId: string;
  userId: string;
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
}

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

/** Every message names the change it is for, so it can never act on a newer request of the user. */
export interface ChangeRef {
  changeId: string;
}
export interface VerifyRequest extends ChangeRef {
  purpose: Purpose;
  tokenHash: string;
}
/** What a link would do if confirmed now (the link page asks before showing its button). */
export type LinkCheck = { ok: true; confirmed: boolean } | { ok: false; type: string; reason?: LinkDeadReason; message: string };
export interface VerifyResult {
  alreadyConfirmed: boolean;
  status: ChangeStatus;
}

/** Why a link no longer works (R-LINK); carried as `details.reason` of LINK_EXPIRED. */
export type LinkDeadReason = 'expired' | 'resent' | 'superseded' | 'cancelled' | 'finished';

/** Failure types the workflow's update validators raise; the API maps them to R-ERR codes. */
export const FailureType = {
  invalidToken: 'INVALID_TOKEN',
  linkExpired: 'LINK_EXPIRED',
  rateLimited: 'RATE_LIMITED',
  notPending: 'NOT_PENDING',
} as const;

export const statusQuery = defineQuery<ChangeStatus>('status');
export const linkQuery = defineQuery<LinkCheck, [VerifyRequest]>('link');
export const verifyUpdate = defineUpdate<VerifyResult, [VerifyRequest]>('verify');
export const resendUpdate = defineUpdate<ChangeStatus, [ChangeRef]>('resend');
export const cancelUpdate = defineUpdate<ChangeStatus, [ChangeRef]>('cancel');

/** One workflow per user at a time: Temporal itself refuses a second running one. */
export const workflowIdFor = (userId: string) => `email-change-${userId}`;
