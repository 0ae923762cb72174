import type { PushFlowErrorCode } from './errors.ts';

/**
 * What a close code of a delivery node means for the client (docs/api.md, "Errors and close
 * codes"):
 * - `retry`: reconnect with backoff (1001 node going away, 1006 network, 1013 node full,
 *   4010 slow consumer, and any code this client does not know);
 * - `refresh`: the token is no good any more (4001 invalid, 4003 expired): reconnect only with
 *   a fresh one from `getToken`;
 * - `stop`: the same connection would be closed again (1003, 1009: a client bug; 4009: this
 *   user already has the most sockets a node allows, and a retry loop would fight the user's
 *   other tabs and devices for a slot).
 *
 * 4008 (too many frames a second) is retried: the client paces its acks under the node's
 * default limit, so it only meets 4008 where a node is set lower; then a pause (the backoff)
 * and a new connection is the fix, and an error event says why.
 */
export type CloseAction = { action: 'retry'; error?: PushFlowErrorCode } | { action: 'refresh' | 'stop'; error: PushFlowErrorCode };

const POLICY: Record<number, CloseAction> = {
  1003: { action: 'stop', error: 'UNSUPPORTED_DATA' },
  1009: { action: 'stop', error: 'MESSAGE_TOO_BIG' },
  4001: { action: 'refresh', error: 'TOKEN_INVALID' },
  4003: { action: 'refresh', error: 'TOKEN_EXPIRED' },
  4008: { action: 'retry', error: 'TOO_MANY_MESSAGES' },
  4009: { action: 'stop', error: 'TOO_MANY_CONNECTIONS' },
};

/** What to do after a close with `code`. */
export function closeAction(code: number): CloseAction {
  return POLICY[code] ?? { action: 'retry' };
}
