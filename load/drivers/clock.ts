import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond resolution, shared by senders and receivers. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
