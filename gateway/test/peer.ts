import { once } from 'node:events';
import { after, before } from 'node:test';
import {
  createRedis,
  createLogger,
  encodeBatch,
  sendCommandCodec,
  statusQueryCodec,
  toEntries,
  type Logger,
  type RedisClient,
  type SendCommand,
  type StatusQuery,
} from '@pushflow/shared';
import { freePort, redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { loadGatewayConfig, type GatewayConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';

export type { Gateway };

export const API_KEY = 'test-key-0123456789abcdef';
export const OTHER_KEY = 'second-key-fedcba9876543210';
export const SECRET = 'a-connect-secret-of-at-least-32-bytes!!';

/** The gateway's configuration read from an environment holding the test keys and `env`. */
export function testConfig(env: Record<string, string> = {}): GatewayConfig {
  return loadGatewayConfig({ PUSHFLOW_API_KEYS: `${API_KEY},${OTHER_KEY}`, PUSHFLOW_CONNECT_SECRET: SECRET, ...env });
}

export interface GatewayOptions {
  timeoutMs?: number;
  /** Environment variables for the configuration (the prefix argument wins over PUSHFLOW_REDIS_PREFIX). */
  env?: Record<string, string>;
  /** Two gateways on one Redis need different ids, or they read each other's replies. */
  gatewayId?: string;
  log?: Logger;
}

/** A gateway wired as main.ts wires it, on its own key prefix, not listening. */
export function startGateway(url: string, prefix: string, opts: GatewayOptions = {}): Promise<Gateway> {
  return wireGateway(url, prefix, opts, true);
}

/** A gateway whose Redis is a port nothing listens on: every Redis command fails at once. */
export async function startGatewayWithoutRedis(env: Record<string, string> = {}): Promise<Gateway> {
  return wireGateway(`redis://127.0.0.1:${await freePort()}`, uniquePrefix(), { env, timeoutMs: 5000, gatewayId: 'down' }, false);
}

async function wireGateway(url: string, prefix: string, opts: GatewayOptions, waitReady: boolean): Promise<Gateway> {
  const config = testConfig({
    ...opts.env,
    REDIS_URL: url,
    PUSHFLOW_REDIS_PREFIX: prefix,
    PUSHFLOW_REPLY_TIMEOUT_MS: String(opts.timeoutMs ?? 2000),
  });
  const gw = await createGateway({
    config,
    log: opts.log ?? createLogger('gateway-test', 'silent'),
    gatewayId: opts.gatewayId ?? `test-${process.pid}`,
  });
  // Tests time their requests: a fail-fast connection still connecting would answer 503,
  // and a reply reader still connecting would add its connect to the first reply's wait.
  if (waitReady) await Promise.all([gw.redis, gw.blocking].map((c) => (c.status === 'ready' ? undefined : once(c, 'ready'))));
  return gw;
}

/**
 * A gateway on its own Redis and a connection that plays the dispatcher, for one describe
 * block: started before its tests, closed after them.
 */
export function gatewayWithPeer(): { readonly gw: Gateway; readonly peer: RedisClient } {
  let server: Server | undefined;
  let gw: Gateway | undefined;
  let peer: RedisClient | undefined;
  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix());
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    await gw?.close();
    peer?.disconnect();
    await server?.stop();
  });
  return {
    get gw() {
      return gw!;
    },
    get peer() {
      return peer!;
    },
  };
}

type Message = SendCommand | StatusQuery;

/** What the test has the dispatcher answer to one message: a reply body, or nothing at all. */
export type Answer = (msg: Message, index: number) => Record<string, unknown> | undefined;

/**
 * Plays a dispatcher with real Redis calls: takes the next entry off its stream (a batch of
 * commands or queries, or an old one-message entry) and answers every message in it as the
 * test asks, with ONE batched entry of replies on the replyTo stream, as a dispatcher does.
 */
export async function answerEntry(peer: RedisClient, stream: string, reply: Answer, timeoutMs = 3000): Promise<Message[]> {
  const raw = (await peer.call('XREAD', 'COUNT', 1, 'BLOCK', timeoutMs, 'STREAMS', stream, '0-0')) as Parameters<typeof toEntries>[0];
  const [entry] = toEntries(raw);
  if (!entry) throw new Error(`nothing arrived on ${stream} within ${timeoutMs} ms`);
  const commands = sendCommandCodec.decodeAll(entry.fields);
  const decoded = commands.items.length > 0 ? commands : statusQueryCodec.decodeAll(entry.fields);
  if (decoded.items.length === 0 || decoded.malformed.length > 0)
    throw new Error(`malformed entry on ${stream}: ${JSON.stringify(entry.fields)}`);
  const messages: Message[] = decoded.items;
  await peer.xdel(stream, entry.id); // so the next call reads the next one from the start
  const replies = messages.flatMap((msg, i) => {
    const body = reply(msg, i);
    return body ? [{ correlationId: msg.correlationId, ...body }] : [];
  });
  if (replies.length > 0) await peer.xadd(messages[0]!.replyTo, '*', ...encodeBatch(replies));
  return messages;
}

/** answerEntry for an entry of one message (what a single send or a status read appends). */
export async function answerNext(
  peer: RedisClient,
  stream: string,
  reply: (msg: Message) => Record<string, unknown> | undefined,
  timeoutMs = 3000,
): Promise<Message> {
  const messages = await answerEntry(peer, stream, reply, timeoutMs);
  if (messages.length !== 1) throw new Error(`expected one message on ${stream}, got ${messages.length}`);
  return messages[0]!;
}

export function auth(key = API_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
