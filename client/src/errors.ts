/**
 * Stable codes of what a client reports on its `error` event or throws from `connect()`.
 * A code is part of the API: match on it, not on the message.
 *
 * - `TOKEN_INVALID`: the node refused the token (close 4001) and `getToken` gave no other.
 * - `TOKEN_EXPIRED`: the token expired (close 4003) and `getToken` gave no fresh one.
 * - `NO_TOKEN`: there was no `token` and `getToken` gave none for the first connect.
 * - `TOKEN_FETCH_FAILED`: `getToken` threw or rejected; the client tries again with backoff.
 * - `UNSUPPORTED_DATA`: the node got a binary frame (close 1003), a client bug.
 * - `MESSAGE_TOO_BIG`: the node got a frame over its size limit (close 1009), a client bug.
 * - `TOO_MANY_CONNECTIONS`: this user holds the most sockets the node allows (close 4009).
 * - `TOO_MANY_MESSAGES`: the client sent frames faster than the node allows (close 4008); it reconnects with backoff.
 * - `NO_WEBSOCKET`: no global `WebSocket` and none passed in the options (thrown by `connect`).
 * - `BAD_OPTIONS`: `connect` was called without a usable `url`, with neither `token` nor `getToken`, or with `acksPerSecond` or `dedupeLimit` out of range (thrown).
 */
export type PushFlowErrorCode =
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'NO_TOKEN'
  | 'TOKEN_FETCH_FAILED'
  | 'UNSUPPORTED_DATA'
  | 'MESSAGE_TOO_BIG'
  | 'TOO_MANY_CONNECTIONS'
  | 'TOO_MANY_MESSAGES'
  | 'NO_WEBSOCKET'
  | 'BAD_OPTIONS';

/** An error of the PushFlow client: `code` says which, `closeCode` the WebSocket close that caused it, if any. */
export class PushFlowError extends Error {
  readonly code: PushFlowErrorCode;
  /** The close code the node sent, when the error is a close. */
  readonly closeCode: number | undefined;
  /** True when the client stopped because of it; false when it goes on (reconnects). */
  readonly fatal: boolean;

  constructor(code: PushFlowErrorCode, message: string, opts: { closeCode?: number; fatal: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PushFlowError';
    this.code = code;
    this.closeCode = opts.closeCode;
    this.fatal = opts.fatal;
  }
}
