import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runProcess, type ProcessResult } from '../../local-stack/run-process.ts';
import { Redis } from 'ioredis';
import { root, startStack, type Stack } from '../../local-stack/stack.ts';

/** The installed command, as `npx pushflow` finds it: npm links it there from cli/bin. */
export const bin = `${root}node_modules/.bin/pushflow`;

/**
 * The environment the CLI sees: this process's, minus every setting the CLI or the replay
 * reads, so that only what a test passes counts (a developer's PUSHFLOW_API_KEY must not
 * leak in). node.sh's own settings (PUSHFLOW_CACHE_DIR, ...) stay.
 */
const CLI_SETTINGS =
  /^(PUSHFLOW_(URL|API_KEY|CONNECT_SECRET|TOKEN_AUDIENCE|REDIS_PREFIX|PARTITIONS)(_FILE)?|REDIS_URL|MONGO_URL|NO_COLOR)$/;

const NO_DEV_STATE = join(tmpdir(), 'pushflow-tests-have-no-dev-state', 'dev.json');

export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CLI_SETTINGS.test(k)) env[k] = v;
  // A `make dev` running on this machine must not be found either (cli/src/dev-state.ts).
  return { ...env, PUSHFLOW_DEV_STATE: NO_DEV_STATE, ...extra };
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ProcessResult> {
  return runProcess(bin, args, { env: cliEnv(env), timeoutMs, what: `pushflow ${args.join(' ')}` });
}

export interface RunningCli {
  child: ChildProcess;
  stdoutLines: string[];
  stderrLines: string[];
  exited: Promise<number | null>;
}

/** A long-running command (watch), read line by line while it runs. */
export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(bin, args, { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => stdoutLines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => stderrLines.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdoutLines, stderrLines, exited };
}

export interface CliStack {
  stack: Stack;
  /** A client of the stack's Redis, for what a test checks there. */
  redis: Redis;
  /** The settings that point the CLI at the stack: its gateway, key, Redis and prefix. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A real stack for the `pushflow` binary to talk to (Redis, a MongoDB-protocol server, the three services). */
export async function startCliStack(): Promise<CliStack> {
  const stack = await startStack();
  const redis = new Redis(stack.redisUrl);
  return {
    stack,
    redis,
    env: { PUSHFLOW_URL: stack.gatewayUrl, PUSHFLOW_API_KEY: stack.apiKey, REDIS_URL: stack.redisUrl, PUSHFLOW_REDIS_PREFIX: stack.prefix },
    async stop() {
      redis.disconnect();
      await stack.stop();
    },
  };
}
