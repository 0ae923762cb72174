/**
 * How long to wait before the next try: `baseMs`, doubled for every failure in a row before
 * this one, never more than `maxMs`. Doubling backs off from a dependency that is down
 * without waiting long once it is back; the cap bounds how long recovery can go unnoticed.
 */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** failures, maxMs);
}
