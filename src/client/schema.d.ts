/**
 * The API's types, generated from its OpenAPI document (src/api/openapi.ts) by openapi-typescript.
 * Do not edit: run `npm run generate:client`.
 */

export interface paths {
    "/v1/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign up (R-ME) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["NewUser"];
                };
            };
            responses: {
                /** @description The account; an email given here is stored unverified */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["UserCreated"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NOT_FOUND: built-in accounts are turned off (AUTH_BUILTIN_ACCOUNTS=false); users sign in with the app's identity provider */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description USERNAME_TAKEN */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign in (R-ME) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["SignIn"];
                };
            };
            responses: {
                /** @description A bearer session token */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Session"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: wrong username or password, or a locked account (one answer for all) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NOT_FOUND: built-in accounts are turned off (AUTH_BUILTIN_ACCOUNTS=false); users sign in with the app's identity provider */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED (sign-in back-off) */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The profile (R-ME, UC01) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The profile */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Profile"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Set the language and time zone of pages and mail (issue #15) */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Preferences"];
                };
            };
            responses: {
                /** @description The profile */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Profile"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/v1/email/availability": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Is an address available (R-AVAIL) */
        get: {
            parameters: {
                query: {
                    email: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Availability */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Availability"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/email/change": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The change and the lock (R-STATUS) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The latest change (null if none) and the lock */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ChangeStatus"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** Re-authenticate and start (or replace) the change (R-START, R-AUTH) */
        post: {
            parameters: {
                query?: never;
                header?: {
                    /** @description 1-255 visible ASCII characters; the first 2xx answer is replayed for 24 hours (README "Safe retries") */
                    "Idempotency-Key"?: string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["StartChange"];
                };
            };
            responses: {
                /** @description Started; the mail goes out asynchronously */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ChangeAccepted"];
                    };
                };
                /** @description VALIDATION_FAILED, REAUTH_METHOD_UNAVAILABLE (+details.methods) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description REAUTH_FAILED (+details.attemptsLeft) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description SAME_EMAIL, EMAIL_TAKEN, IDEMPOTENCY_IN_PROGRESS (+Retry-After) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description IDEMPOTENCY_KEY_REUSED, EMAIL_NOT_SUPPORTED (a non-ASCII local part and a mail server without SMTPUTF8) */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description LOCKED (+details.lockedUntil): re-authentication locked; CHANGE_BLOCKED (+details.blockedUntil): changes paused after an undo */
                423: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal, the identity provider's keys or (for a non-ASCII local part) the mail server cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        /** Cancel the pending change (R-CANCEL) */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The change, CANCELLED */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ChangeOnly"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NO_PENDING_CHANGE */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description CHANGE_BEING_APPLIED */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/email/change/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The change as a live stream of Server-Sent Events (issue #14)
         * @description First an event with the current status, then one whenever it changes: `id: <event id>`, `event: status`, `data: <the body of GET /v1/email/change>`; `: heartbeat` comment lines every SSE_HEARTBEAT_MS. Send `Last-Event-ID` when reconnecting: the first event is then the status as of now, which includes every change after that id. At most SSE_MAX_STREAMS_PER_USER open streams per user on one server (429 beyond).
         */
        get: {
            parameters: {
                query?: never;
                header?: {
                    /** @description The id of the last event received, when reconnecting */
                    "Last-Event-ID"?: string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description text/event-stream; each `data:` line is a ChangeStatus (JSON) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/event-stream": string;
                    };
                };
                /** @description VALIDATION_FAILED (Last-Event-ID is not an event id) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED: too many open streams for this user or on this server */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/email/change/resend": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send fresh links to the unconfirmed address(es) (R-RESEND) */
        post: {
            parameters: {
                query?: never;
                header?: {
                    /** @description 1-255 visible ASCII characters; the first 2xx answer is replayed for 24 hours (README "Safe retries") */
                    "Idempotency-Key"?: string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": Record<string, never>;
                };
            };
            responses: {
                /** @description Resent; the mail goes out asynchronously */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ChangeAccepted"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NO_PENDING_CHANGE */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description CHANGE_BEING_APPLIED, IDEMPOTENCY_IN_PROGRESS (+Retry-After) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description IDEMPOTENCY_KEY_REUSED */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED: the cooldown, MAX_RESENDS used up (details.resendsLeft 0), or the address limit */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/email/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Confirm with a link's token, as an app's deep link does (R-VERIFY), or with a mail's typed code (signed in, issue #15) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["VerifyToken"];
                };
            };
            responses: {
                /** @description The change after this confirmation (with a token: the other address masked) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["VerifyResult"];
                    };
                };
                /** @description VALIDATION_FAILED, INVALID_TOKEN, INVALID_CODE (+details.attemptsLeft) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NO_PENDING_CHANGE (a code, and no pending change) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description EMAIL_TAKEN, ACCOUNT_EMAIL_CHANGED, CODE_LOCKED (no code is taken any more; the links still work) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description LINK_EXPIRED (details.reason: expired, resent, superseded, cancelled, finished) */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The registered devices */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Devices */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["DeviceList"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** Register a device key for biometric re-authentication (R-AUTH) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["RegisterDevice"];
                };
            };
            responses: {
                /** @description The device */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Device"];
                    };
                };
                /** @description VALIDATION_FAILED, REAUTH_METHOD_UNAVAILABLE (+details.methods) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description REAUTH_FAILED (+details.attemptsLeft) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description LOCKED (+details.lockedUntil) */
                423: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description RATE_LIMITED */
                429: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Revoke a device */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Revoked */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NOT_FOUND */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/challenges": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A challenge for a device to sign (R-AUTH) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ChallengeRequest"];
                };
            };
            responses: {
                /** @description The challenge: single use, 2 minutes */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Challenge"];
                    };
                };
                /** @description VALIDATION_FAILED */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key) */
                401: {
                    headers: {
                        "WWW-Authenticate": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description NOT_FOUND */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/verify-email": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The link in the mail: a page with a Confirm button; consumes nothing (R-VERIFY, R-LINK) */
        get: {
            parameters: {
                query?: {
                    token?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Confirm, or already confirmed */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Not a valid link */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Declined: the address went to another account */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Expired, replaced, cancelled or finished (with "send a new link" where it can) */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Try again in a moment */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        put?: never;
        /** The Confirm button (form) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/x-www-form-urlencoded": {
                        token: string;
                    };
                };
            };
            responses: {
                /** @description Confirmed (or already confirmed) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Not a valid link */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Declined */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Expired, replaced, cancelled or finished */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Try again in a moment */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/verify-email/resend": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** "Send a new link" on an expired link's page (form, R-LINK) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/x-www-form-urlencoded": {
                        token: string;
                    };
                };
            };
            responses: {
                /** @description A new link is on its way */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Not a valid link */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Declined */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description The request is no longer open */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Please wait */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Try again in a moment */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/undo-email-change": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The undo link ("this wasn't me") in the notice to the previous address: a page with an Undo button; consumes nothing (issue #15) */
        get: {
            parameters: {
                query?: {
                    token?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Undo, or already undone */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Not a valid link */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Cannot be undone: the previous address is now verified on another account */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description The time to undo has passed */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Try again in a moment */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        put?: never;
        /** The Undo button (form): restores the previous address, signs every session out and pauses changes (REVERT_LOCK) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/x-www-form-urlencoded": {
                        token: string;
                    };
                };
            };
            responses: {
                /** @description Undone (or already undone) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Not a valid link */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description Cannot be undone: the previous address is now verified on another account */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description The time to undo has passed */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description PAYLOAD_TOO_LARGE */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description UNSUPPORTED_MEDIA_TYPE */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Try again in a moment */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process is up (R-OPS) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Up */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @constant */
                            status: "ok";
                        };
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: PostgreSQL and Temporal answer (R-OPS) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Ready */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
                /** @description Not ready: which check failed */
                503: {
                    headers: {
                        /** @description Seconds to wait before trying again */
                        "Retry-After": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        NewUser: {
            username: string;
            password: string;
            email?: string;
            /** @description BCP 47 language tag of pages and mail (en, ne, ne-NP); a language without a catalogue falls back to English */
            locale?: string;
            /** @description IANA time zone the dates in pages and mail are shown in; unset: UTC */
            timeZone?: string;
        };
        SignIn: {
            username: string;
            password: string;
        };
        Preferences: {
            locale?: string | null;
            timeZone?: string | null;
        };
        StartChange: {
            email: string;
            auth: components["schemas"]["PasswordProof"] | components["schemas"]["BiometricProof"] | components["schemas"]["IdTokenProof"];
        };
        PasswordProof: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            method: "password";
            password: string;
        };
        BiometricProof: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            method: "biometric";
            /** Format: uuid */
            deviceId: string;
            /** Format: uuid */
            challengeId: string;
            /** @description ECDSA P-256 / SHA-256 over the challenge bytes: raw r‖s (WebCrypto) or DER, base64url */
            signature: string;
        };
        IdTokenProof: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            method: "idToken";
            /** @description An ID token of the app's identity provider for this user, with auth_time within REAUTH_MAX_AGE (compact JWS); single use */
            idToken: string;
        };
        /** @description A link's token, or the signed-in user's typed code */
        VerifyToken: {
            /** @description The link's token (no Authorization needed) */
            token?: string;
            /** @description The 6-digit code of a verification mail; needs the account's Authorization (issue #15) */
            code?: string;
        };
        RegisterDevice: {
            name: string;
            /** @description ECDSA P-256 public key as a JWK: { kty: "EC", crv: "P-256", x, y } */
            publicKey: {
                [key: string]: unknown;
            };
            /** @description The account password; or send `auth` instead */
            password?: string;
            /** @description A re-authentication proof, in place of `password` */
            auth?: components["schemas"]["PasswordProof"] | components["schemas"]["BiometricProof"] | components["schemas"]["IdTokenProof"];
        };
        ChallengeRequest: {
            /** Format: uuid */
            deviceId: string;
        };
        UserCreated: {
            /** Format: uuid */
            id: string;
            username: string;
            email: string | null;
            emailVerified: boolean;
        };
        Error: {
            error: {
                /** @description Stable machine-readable code; docs/errors.md lists every one */
                code: string;
                message: string;
                /** @description Per code: fields[] {path, message} (VALIDATION_FAILED), attemptsLeft, lockedUntil, retryAfterSeconds, resendsLeft, reason */
                details?: {
                    [key: string]: unknown;
                };
            };
        };
        Session: {
            token: string;
            /** Format: date-time */
            expiresAt: string;
        };
        Profile: {
            /** Format: uuid */
            id: string;
            username: string;
            email: string | null;
            emailVerified: boolean;
            emailVerifiedAt: string | null;
            previousEmails: {
                email: string;
                /** Format: date-time */
                replacedAt: string;
            }[];
            pendingChange: components["schemas"]["Change"] | null;
            /** @description Language of pages and mail (issue #15); null: the browser's, English in mail */
            locale: string | null;
            /** @description Time zone of the dates in pages and mail; null: UTC */
            timeZone: string | null;
        };
        /** @description R-STATUS: an email change request */
        Change: {
            /** Format: uuid */
            id: string;
            /** @enum {string} */
            state: "REQUESTED" | "APPROVED" | "DECLINED" | "EXPIRED" | "CANCELLED" | "SUPERSEDED";
            /** @enum {string} */
            kind: "ADD" | "UPDATE";
            /** @description null only once the account's address history was erased (docs/privacy.md) */
            newEmail: string | null;
            /** @description null for an ADD, and once the address history was erased */
            oldEmail: string | null;
            confirmations: {
                new: boolean;
                /** @description null when the old address need not confirm */
                old: boolean | null;
            };
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            expiresAt: string;
            linkExpiresAt: string | null;
            resendAvailableAt: string | null;
            resendsLeft: number;
            delivery: {
                new: components["schemas"]["Delivery"];
                old?: components["schemas"]["Delivery"];
            };
            /** @description Why the request ended, for people */
            reason: string | null;
            /** @description Why the request ended, for programs; null while REQUESTED and when APPROVED */
            reasonCode: ("SUPERSEDED" | "CANCELLED" | "EXPIRED" | "EMAIL_TAKEN" | "ACCOUNT_EMAIL_CHANGED") | null;
        };
        Delivery: {
            /** @enum {string} */
            status: "pending" | "sending" | "retrying" | "sent" | "failed";
            attempts: number;
            lastError?: string;
            sentAt?: string;
        };
        Availability: {
            email: string;
            available: boolean;
            /** @enum {string} */
            reason?: "invalid" | "taken" | "current" | "unsupported";
        };
        ChangeAccepted: {
            change: components["schemas"]["Change"];
            lock: components["schemas"]["Lock"];
        };
        /** @description R-LOCK: the re-authentication lock of the signed-in user */
        Lock: {
            locked: boolean;
            lockedUntil: string | null;
            attemptsLeft: number;
        };
        ChangeStatus: {
            change: components["schemas"]["Change"] | null;
            lock: components["schemas"]["Lock"];
        };
        ChangeOnly: {
            change: components["schemas"]["Change"];
        };
        VerifyResult: {
            /** Format: uuid */
            id: string;
            /** @enum {string} */
            state: "REQUESTED" | "APPROVED" | "DECLINED" | "EXPIRED" | "CANCELLED" | "SUPERSEDED";
            /** @enum {string} */
            kind: "ADD" | "UPDATE";
            /** @description null only once the account's address history was erased (docs/privacy.md) */
            newEmail: string | null;
            /** @description null for an ADD, and once the address history was erased */
            oldEmail: string | null;
            confirmations: {
                new: boolean;
                /** @description null when the old address need not confirm */
                old: boolean | null;
            };
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            expiresAt: string;
            linkExpiresAt: string | null;
            resendAvailableAt: string | null;
            resendsLeft: number;
            delivery: {
                new: components["schemas"]["Delivery"];
                old?: components["schemas"]["Delivery"];
            };
            /** @description Why the request ended, for people */
            reason: string | null;
            /** @description Why the request ended, for programs; null while REQUESTED and when APPROVED */
            reasonCode: ("SUPERSEDED" | "CANCELLED" | "EXPIRED" | "EMAIL_TAKEN" | "ACCOUNT_EMAIL_CHANGED") | null;
            alreadyConfirmed: boolean;
        };
        Device: {
            /** Format: uuid */
            id: string;
            name: string;
            /** Format: date-time */
            createdAt: string;
        };
        DeviceList: {
            devices: components["schemas"]["Device"][];
        };
        Challenge: {
            /** Format: uuid */
            challengeId: string;
            /** @description 32 random bytes, base64url; sign these bytes */
            challenge: string;
            /** Format: date-time */
            expiresAt: string;
        };
        Readiness: {
            /** @enum {string} */
            status: "ready" | "not ready";
            checks: {
                postgres: {
                    ok: boolean;
                    error?: string;
                };
                temporal: {
                    ok: boolean;
                    error?: string;
                };
            };
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
