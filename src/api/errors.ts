/** A failure the client should see: HTTP status, stable code (R-ERR), message and optional details. */
export class AppError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const notFound = (what = 'Not found') => new AppError(404, 'NOT_FOUND', what);
/** RFC 6750's challenge; `invalid_token` when a token was sent but is unknown or expired. */
export const bearerChallenge = (error?: 'invalid_token') => `Bearer realm="email-change"${error ? `, error="${error}"` : ''}`;
export const unauthenticated = (message = 'Sign in first: send Authorization: Bearer <token>', error?: 'invalid_token') =>
  new AppError(401, 'UNAUTHENTICATED', message, undefined, { 'WWW-Authenticate': bearerChallenge(error) });
export const unavailable = (what: string) =>
  new AppError(503, 'UNAVAILABLE', `${what} is unavailable right now; try again shortly`, undefined, { 'Retry-After': '5' });
