/** How long to wait before reconnecting, and when a connection counts as a success. */
export interface BackoffOptions {
  /** The bound of the first retry's wait, in ms (500). Each next retry doubles it. */
  initialMs?: number;
  /** The largest bound, in ms (30000). */
  maxMs?: number;
  /** A connection open at least this long (ms, 10000) was a success: the next retry starts over at `initialMs`. */
  stableMs?: number;
}

/** 500 ms, doubling up to 30 s, reset after a connection of 10 s. */
export const BACKOFF_DEFAULTS: Required<BackoffOptions> = { initialMs: 500, maxMs: 30_000, stableMs: 10_000 };

/**
 * "Full jitter": a random wait between 0 and the exponential bound. When a node restarts,
 * every client it had reconnects at once; without jitter they would all come back in the same
 * instant each round and knock the next node over.
 */
export function backoffDelay(attempt: number, options: Required<BackoffOptions>, random: () => number = Math.random): number {
  return Math.round(random() * backoffBound(attempt, options));
}

/** The most `backoffDelay` can wait before retry number `attempt` (0 for the first). */
export function backoffBound(attempt: number, { initialMs, maxMs }: Required<BackoffOptions>): number {
  return Math.min(maxMs, initialMs * 2 ** attempt);
}
