// Stub of k6/timers: timers the test fires by hand (runTimers in state.ts) instead of waiting.
import { k6, strict, type Timer } from '../state.ts';

let nextId = 1;

function add(fn: unknown, delayMs: unknown, repeat: boolean, args: unknown[]): number {
  if (typeof fn !== 'function') throw new TypeError(`${repeat ? 'setInterval' : 'setTimeout'}: the callback must be a function`);
  const delay = delayMs === undefined ? 0 : Number(delayMs);
  if (!Number.isFinite(delay))
    throw new TypeError(`${repeat ? 'setInterval' : 'setTimeout'}: the delay must be a number of ms, got ${String(delayMs)}`);
  const timer: Timer = { id: nextId++, delayMs: delay, repeat, cleared: false, run: () => fn(...args) };
  k6.timers.push(timer);
  return timer.id;
}

function clear(id: unknown): void {
  const timer = k6.timers.find((t) => t.id === id);
  if (timer) timer.cleared = true;
}

export function setTimeout(fn: unknown, delayMs?: unknown, ...args: unknown[]): number {
  return add(fn, delayMs, false, args);
}

export function setInterval(fn: unknown, delayMs?: unknown, ...args: unknown[]): number {
  return add(fn, delayMs, true, args);
}

export const clearTimeout = clear;
export const clearInterval = clear;

export default strict('k6/timers', { setTimeout, clearTimeout, setInterval, clearInterval });
