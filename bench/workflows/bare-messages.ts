import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** Shared by the bare workflow and the bench's client (no workflow code here). */

export interface BareInput {
  changeId: string;
  userId: string;
  newEmail: string;
  /** Stands in for the pinned policy and requester info: keeps the history payloads about the same size. */
  padding: string;
  changeTtlMs: number;
}

export interface BareStatus {
  changeId: string;
  state: 'REQUESTED' | 'APPROVED' | 'EXPIRED';
  confirmed: boolean;
  tokenHash: string | null;
  delivery: 'pending' | 'sending' | 'sent';
}

export const bareStatusQuery = defineQuery<BareStatus>('status');
export const bareVerifyUpdate = defineUpdate<BareStatus, [{ changeId: string; tokenHash: string }]>('verify');
/** The add shape's first answer, asked by update-with-start (as the product's `recorded`). */
export const bareRecordedUpdate = defineUpdate<BareStatus>('recorded');
