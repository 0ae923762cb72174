/**
 * When a failed webhook message is tried again: PUSHFLOW_WEBHOOK_RETRY_SCHEDULE lists the
 * waits after the first attempt, the second, and so on (`5s,30s,2m,...`); after the last
 * one the message is kept as failed. Each wait is jittered by up to ±JITTER of itself, so
 * the messages an endpoint failed at once do not all come back at once.
 */
export const DEFAULT_RETRY_SCHEDULE = '5s,30s,2m,10m,30m,1h,2h,4h,8h,8h';
export const JITTER = 0.2;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_WAIT_MS = 7 * 86_400_000;
const MAX_STEPS = 50;

/** The waits in ms, or an Error saying what is wrong with the text. */
export function parseRetrySchedule(text: string): number[] | Error {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > MAX_STEPS) return new Error(`has ${parts.length} steps; at most ${MAX_STEPS}`);
  const waits: number[] = [];
  for (const part of parts) {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(part);
    if (!m) return new Error(`step ${JSON.stringify(part)} is not a number followed by ms, s, m, h or d`);
    const ms = Number(m[1]) * UNITS[m[2]!]!;
    if (ms < 1 || ms > MAX_WAIT_MS) return new Error(`step ${part} is not between 1ms and 7d`);
    waits.push(ms);
  }
  return waits;
}

/** The wait before the attempt after `attemptsMade` failed ones, or undefined when the schedule is spent. */
export function retryDelayMs(schedule: readonly number[], attemptsMade: number, random = Math.random): number | undefined {
  const base = schedule[attemptsMade - 1];
  if (base === undefined) return undefined;
  return Math.max(1, Math.round(base * (1 - JITTER + 2 * JITTER * random())));
}
