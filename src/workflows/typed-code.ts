import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { verifierOf } from './link-proof';
import { FailureType, verifyCodeUpdate, type Purpose, type VerifyCodeRequest, type VerifyResult } from './messages';
import { deadlineOf, requiredLinks, type ChangeState, type LinkState } from './state';

/**
 * Issue #15 item 7: the 6-digit code each verification mail carries, typed by the signed-in user
 * (POST /v1/email/verify { code }). Like a link, only verifiers live here (src/verification-codes.ts:
 * the API sends HMAC proofs, one per token key); the code never reaches the workflow. The run counts
 * wrong codes itself: handlers run one at a time, so concurrent guesses cannot exceed the limit,
 * and after `maxAttempts` wrong ones only the links work. Runs whose input has no
 * `verificationCode` (started before codes existed) issue none and refuse every code.
 */
export interface CodeState {
  /** The current code's verifier per purpose; null while a (re)send prepares a new one. */
  current: Partial<Record<Purpose, string | null>>;
  /** Verifiers of codes a resend replaced: "a newer code was sent", not a wrong guess. */
  replaced: string[];
  failures: number;
}

export const codesOn = (s: ChangeState): boolean => s.input.verificationCode !== undefined;

const codesOf = (s: ChangeState): CodeState => (s.codes ??= { current: {}, replaced: [], failures: 0 });

/** A (re)send is preparing a new link: the code of the old one stops working with it. */
export function replaceCode(s: ChangeState, link: LinkState): void {
  if (!codesOn(s)) return;
  const codes = codesOf(s);
  const old = codes.current[link.purpose];
  if (old) codes.replaced.push(old);
  codes.current[link.purpose] = null;
}

/** The new link's code, as prepareVerificationLink made it (its verifier only). */
export function codeIssued(s: ChangeState, link: LinkState, codeVerifier: string | null | undefined): void {
  if (codesOn(s) && codeVerifier) codesOf(s).current[link.purpose] = codeVerifier;
}

/** Registers the Update; `confirm` is what a link's verify does for its purpose. */
export function handleTypedCodes(s: ChangeState, confirm: (purpose: Purpose) => Promise<VerifyResult>): void {
  setHandler(
    verifyCodeUpdate,
    async (request) => {
      const purpose = matchCode(s, request); // counts a wrong code before anything can interleave
      return { ...(await confirm(purpose)), purpose };
    },
    { validator: (request) => checkCodeRequest(s, request) },
  );
}

const attemptsLeft = (s: ChangeState) => Math.max(0, s.input.verificationCode!.maxAttempts - codesOf(s).failures);

function refused(type: string, message: string, details: Record<string, unknown> = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, details: [details], nonRetryable: true });
}

/** Refusals that cost nothing (not recorded in history): another request, no codes, closed, locked. */
function checkCodeRequest(s: ChangeState, { changeId, proofs }: VerifyCodeRequest): void {
  if (changeId !== s.input.changeId) throw refused(FailureType.linkExpired, 'A newer request replaced this one', { reason: 'superseded' });
  if (!Array.isArray(proofs) || proofs.length === 0 || proofs.length > 16 || proofs.some((p) => typeof p !== 'string')) {
    throw refused(FailureType.invalidCode, 'This code is not valid', { attemptsLeft: codesOn(s) ? attemptsLeft(s) : 0 });
  }
  if (!codesOn(s)) throw refused(FailureType.codeLocked, 'This request was started before codes existed; use the link in the email', { attemptsLeft: 0 });
  if (s.state !== 'REQUESTED' || s.cancelRequested) throw refused(FailureType.notPending, 'This request is no longer pending');
  if (Date.now() >= deadlineOf(s)) throw refused(FailureType.linkExpired, 'This request has expired', { reason: 'expired' });
  if (attemptsLeft(s) === 0) throw refused(FailureType.codeLocked, 'Too many wrong codes: use the link in the email', { attemptsLeft: 0 });
}

/** The purpose whose current code the proofs match; anything else is refused, a wrong code counted. */
function matchCode(s: ChangeState, request: VerifyCodeRequest): Purpose {
  checkCodeRequest(s, request); // again: an Update accepted earlier in this activation may have used the last try
  const codes = codesOf(s);
  const verifiers = new Set(request.proofs.map(verifierOf));
  const matches = requiredLinks(s).filter((l) => {
    const current = codes.current[l.purpose];
    return current != null && verifiers.has(current);
  });
  if (matches.length === 1) {
    const link = matches[0]!;
    if (link.confirmedAt === null && link.linkExpiresAt !== null && Date.now() >= link.linkExpiresAt) {
      throw refused(FailureType.linkExpired, 'This code has expired; ask for a new email', { reason: 'expired' });
    }
    return link.purpose;
  }
  // Both addresses' codes alike (prepareVerificationLink avoids it; a key rotation mid-request could not): not a guess, but ambiguous.
  if (matches.length > 1) throw refused(FailureType.codeLocked, 'This code cannot be used; use the link in the email', { attemptsLeft: attemptsLeft(s) });
  if (codes.replaced.some((v) => verifiers.has(v))) throw refused(FailureType.linkExpired, 'A newer code was sent; use the latest email', { reason: 'resent' });
  codes.failures += 1;
  const left = attemptsLeft(s);
  throw refused(FailureType.invalidCode, left > 0 ? 'This code is not right' : 'This code is not right, and no tries are left: use the link in the email', { attemptsLeft: left });
}
