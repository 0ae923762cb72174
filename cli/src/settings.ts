import { readDevState } from './dev-state.ts';
import { CliError } from './errors.ts';

/**
 * Where a command finds its stack, per setting: the option, then the environment variable,
 * then a running `make dev` (its state file, dev-state.ts), then the default. The state file
 * is read only when an option and its variable are both missing.
 */

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_PREFIX = 'pushflow:';
export const DEFAULT_WS_URL = 'ws://localhost:8080';

const GATEWAY_HINT =
  'no gateway was given and no running `make dev` was found: start one with `make dev` (the CLI then finds it by itself), ' +
  'or point the CLI at a gateway with PUSHFLOW_URL and PUSHFLOW_API_KEY (or --url and --api-key)';
const REDIS_HINT =
  'no Redis was given and no running `make dev` was found: start one with `make dev` (the CLI then finds it by itself), ' +
  "or point the CLI at the stack's Redis with REDIS_URL and PUSHFLOW_REDIS_PREFIX (or --redis and --prefix)";

export interface GatewayValues {
  url?: string;
  'api-key'?: string;
}

/**
 * --url / --api-key as apiTarget (api.ts) takes them, filled in from a running `make dev`
 * where neither the option nor its variable is set. Its key goes only to its own gateway:
 * with PUSHFLOW_URL naming another one, apiTarget's rules for a missing key apply.
 * `found` is false when the gateway is apiTarget's default, which nothing pointed at.
 */
export function gatewayValues(values: GatewayValues, env: NodeJS.ProcessEnv = process.env): GatewayValues & { found: boolean } {
  const urlGiven = values.url ?? (env.PUSHFLOW_URL || undefined);
  const keyGiven = values['api-key'] !== undefined || !!env.PUSHFLOW_API_KEY || !!env.PUSHFLOW_API_KEY_FILE;
  if (urlGiven !== undefined && keyGiven) return { ...values, found: true };
  const dev = readDevState(env);
  if (!dev) return { ...values, found: urlGiven !== undefined };
  const url = urlGiven ?? dev.gatewayUrl;
  const apiKey = !keyGiven && sameGateway(url, dev.gatewayUrl) ? dev.apiKey : values['api-key'];
  return { ...values, url, ...(apiKey !== undefined && { 'api-key': apiKey }), found: true };
}

/** --redis / --prefix for `watch`; the prefix of `make dev` goes only with its own Redis. */
export function redisSettings(
  values: { redis?: string; prefix?: string },
  env: NodeJS.ProcessEnv = process.env,
): { url: string; prefix: string; found: boolean } {
  const urlGiven = values.redis ?? (env.REDIS_URL || undefined);
  const prefixGiven = values.prefix ?? (env.PUSHFLOW_REDIS_PREFIX || undefined);
  const dev = urlGiven === undefined || prefixGiven === undefined ? readDevState(env) : undefined;
  const url = urlGiven ?? dev?.redisUrl;
  const prefix = prefixGiven ?? (dev && url === dev.redisUrl ? dev.prefix : undefined) ?? DEFAULT_PREFIX;
  return { url: url ?? DEFAULT_REDIS_URL, prefix, found: url !== undefined };
}

/**
 * --url for `listen`: a delivery node. The state of `make dev` names no delivery node, so
 * there is no step between the variable and the default.
 */
export function deliveryUrl(values: { url?: string }, env: NodeJS.ProcessEnv = process.env): string {
  return values.url ?? (env.PUSHFLOW_WS_URL || DEFAULT_WS_URL);
}

/**
 * The environment for the ledger replay (a script of its own, which reads REDIS_URL,
 * MONGO_URL and PUSHFLOW_REDIS_PREFIX): those of a running `make dev` when neither
 * REDIS_URL nor MONGO_URL is set.
 */
export function replayEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.REDIS_URL || env.MONGO_URL) return env;
  const dev = readDevState(env);
  if (!dev) return env;
  return { ...env, REDIS_URL: dev.redisUrl, MONGO_URL: dev.mongoUrl, PUSHFLOW_REDIS_PREFIX: env.PUSHFLOW_REDIS_PREFIX || dev.prefix };
}

/** Runs a command; when it could not reach a gateway nothing pointed it at, the error says how to point it at one. */
export async function explainingUnreachable<T>(found: boolean, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (found || !(err instanceof CliError) || err.code !== 'UNREACHABLE') throw err;
    throw new CliError(err.exitCode, err.code, `${err.message}: ${GATEWAY_HINT}`, err.details);
  }
}

/** The message of a Redis that could not be reached, with how to point the CLI at one when nothing did. */
export function redisUnreachableMessage(message: string, found: boolean): string {
  return found ? message : `${message}: ${REDIS_HINT}`;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** localhost, 127.0.0.1 and [::1] on the same port are the same gateway of this machine. */
function sameGateway(a: string, b: string): boolean {
  let ua: URL;
  let ub: URL;
  try {
    ua = new URL(a);
    ub = new URL(b);
  } catch {
    return false;
  }
  if (ua.protocol !== ub.protocol || ua.port !== ub.port) return false;
  return ua.hostname === ub.hostname || (LOOPBACK.test(ua.hostname) && LOOPBACK.test(ub.hostname));
}
