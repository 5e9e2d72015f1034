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
export const unauthenticated = (message = 'Sign in first: send Authorization: Bearer <token>') =>
  new AppError(401, 'UNAUTHENTICATED', message);
export const unavailable = (what: string) =>
  new AppError(503, 'UNAVAILABLE', `${what} is unavailable right now; try again shortly`, undefined, { 'Retry-After': '5' });
