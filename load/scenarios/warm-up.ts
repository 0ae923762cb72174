import { now, sleep } from '../drivers/clock.ts';
import { createTally, tallied } from '../drivers/senders.ts';
import type { System } from '../drivers/system.ts';
import type { Driver } from './run-scenario.ts';

/**
 * The scenario's own load, for `seconds`, before its window: a service on a JIT (Node's V8)
 * compiles its hot code in the first seconds under load, on threads whose CPU the window
 * would otherwise count (perf, 2026-12-04: 15% of the gateway's CPU in the first seconds of
 * a cold window, 1% twenty seconds later). A Go peer has nothing to compile; both get the
 * same warm-up, the way a benchmark measures a server after a warm-up round.
 *
 * Its publications carry `warmup`, so the receivers count them as probes, not in the
 * window. The window then waits until they all arrived and, where the system stores
 * statuses, are DELIVERED: a window that opened on the warm-up's backlog would measure
 * the catch-up, not the scenario.
 */
export interface WarmUpFigures {
  seconds: number;
  accepted: number;
  errors: Record<string, number>;
  /** How long after the warm-up's sends everything it sent had arrived (and was stored); null: not within the bound. */
  settledAfterMs: number | null;
}

export async function warmUp(ctx: {
  system: System;
  driver: Driver;
  recipients: string[];
  recipientPrefix: string;
  seconds: number;
  /** Warm-up publications the receivers have seen so far (probes included). */
  probeFrames: () => number;
  /** The longest wait for the warm-up to settle, in ms. */
  settleBoundMs: number;
}): Promise<WarmUpFigures> {
  const { system, driver, recipients, seconds } = ctx;
  const tally = createTally();
  const framesBefore = ctx.probeFrames();
  const data = { warmup: true };
  await driver.drive({
    send: tallied(system.send, tally, data),
    sendBatch: tallied(system.sendBatch, tally, data),
    recipients,
    deadline: now() + seconds * 1000,
    tally,
  });
  const sent = now();
  const bound = sent + ctx.settleBoundMs;
  const accepted = tally.acceptedIds.length;
  let settled = false;
  while (now() < bound) {
    if (ctx.probeFrames() - framesBefore >= accepted) {
      settled = true;
      break;
    }
    await sleep(50);
  }
  if (settled && system.statuses.kind === 'stored') {
    const stored = await system.statuses.await({ ids: tally.acceptedIds, recipientPrefix: ctx.recipientPrefix }, bound);
    settled = stored.completeAt !== null;
  }
  return { seconds, accepted, errors: tally.errors, settledAfterMs: settled ? Math.round(now() - sent) : null };
}
