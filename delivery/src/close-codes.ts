/** WebSocket close codes this node sends, and what each tells the client (docs/api.md, "Errors and close codes"). */
export const CLOSE = {
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  MESSAGE_TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
  /** Reason "token missing" (no `?token=`) or "token invalid". */
  TOKEN_INVALID: 4001,
  TOKEN_EXPIRED: 4003,
  TOO_MANY_MESSAGES: 4008,
  TOO_MANY_CONNECTIONS: 4009,
  SLOW_CONSUMER: 4010,
} as const;
