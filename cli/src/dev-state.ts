import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The state file `make dev` (scripts/dev.ts) writes while it runs and removes when it stops,
 * so that `pushflow` finds that stack with no settings at all. It names the pid of `make dev`:
 * a file left behind by a `make dev` that was killed is ignored once that pid is gone.
 */
export interface DevState {
  pid: number;
  gatewayUrl: string;
  apiKey: string;
  redisUrl: string;
  prefix: string;
  mongoUrl: string;
}

/**
 * PUSHFLOW_DEV_STATE names the file itself (the tests point it at a folder of their own);
 * otherwise dev.json in the cache folder the Makefile and scripts/node.sh use.
 */
export function devStatePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PUSHFLOW_DEV_STATE) return env.PUSHFLOW_DEV_STATE;
  const cache = env.PUSHFLOW_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pushflow');
  return join(cache, 'dev.json');
}

/** Written whole (a temporary file renamed over it) and readable by its owner only: it holds the API key. */
export function writeDevState(state: DevState, env: NodeJS.ProcessEnv = process.env): string {
  const path = devStatePath(env);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** Removes the file if `pid` wrote it: a second `make dev` that failed to start must not remove the first one's. */
export function removeDevState(pid: number, env: NodeJS.ProcessEnv = process.env): void {
  const path = devStatePath(env);
  if (parse(path)?.pid === pid) rmSync(path, { force: true });
}

/** The running `make dev`, or undefined: no file, a file that is not a state, or one whose process is gone. */
export function readDevState(env: NodeJS.ProcessEnv = process.env): DevState | undefined {
  const state = parse(devStatePath(env));
  return state && alive(state.pid) ? state : undefined;
}

function parse(path: string): DevState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const s = value as Partial<DevState> | null;
  const strings = [s?.gatewayUrl, s?.apiKey, s?.redisUrl, s?.prefix, s?.mongoUrl];
  if (typeof s?.pid !== 'number' || !Number.isInteger(s.pid) || s.pid <= 0 || strings.some((v) => typeof v !== 'string')) return undefined;
  return s as DevState;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
