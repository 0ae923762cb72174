// Stub of k6's 'k6' module: check, fail, group, randomSeed, sleep.
import { k6, requireVuContext, strict } from '../state.ts';

type Checker = ((value: unknown) => unknown) | unknown;

export function check(value: unknown, sets: Record<string, Checker>, tags?: Record<string, string>): boolean {
  if (typeof sets !== 'object' || sets === null) throw new TypeError('check: the second argument must be an object of named checks');
  if (tags !== undefined && (typeof tags !== 'object' || tags === null)) throw new TypeError('check: tags must be an object');
  requireVuContext('Using check()');
  let all = true;
  for (const [name, checker] of Object.entries(sets)) {
    const ok = Boolean(typeof checker === 'function' ? checker(value) : checker);
    k6.checks.push({ name, ok });
    all &&= ok;
  }
  return all;
}

export function fail(err?: unknown): never {
  throw new Error(String(err ?? ''));
}

export function group<T>(name: string, fn: () => T): T {
  if (typeof name !== 'string' || name === '') throw new TypeError('group: the name must be a non-empty string');
  if (typeof fn !== 'function') throw new TypeError('group: the second argument must be a function');
  return fn();
}

export function randomSeed(seed: number): void {
  if (typeof seed !== 'number') throw new TypeError('randomSeed: the seed must be a number');
}

export function sleep(seconds: number): void {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds))
    throw new TypeError(`sleep: expected seconds as a number, got ${String(seconds)}`);
  k6.sleeps.push(seconds);
}

export default strict("the 'k6' module", { check, fail, group, randomSeed, sleep });
