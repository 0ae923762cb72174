import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before } from 'node:test';
import WebSocket from 'ws';
import {
  createLogger,
  createRedis,
  encodeEntry,
  eventCodec,
  makeKeys,
  loadConfig,
  signConnectToken,
  type Keys,
  type LedgerEvent,
  type Logger,
  type RedisClient,
} from '@pushflow/shared';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { freePort, redisServer, type Server } from '../../local-stack/servers.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { DeliveryConfigSchema, type DeliveryConfig } from '../src/config.ts';
import { startDeliveryNode, type DeliveryNode } from '../src/node.ts';

export const SECRET = randomBytes(32).toString('hex');

export interface TestNode {
  node: DeliveryNode;
  config: DeliveryConfig;
  keys: Keys;
  redis: RedisClient;
  url(token: string): string;
  /** Stops the node (if not stopped yet) and closes its clients. */
  close(): Promise<void>;
}

/** A real delivery node in this process, on a free port, under a key prefix of its own. */
export async function startTestNode(redisUrl: string, env: Record<string, string> = {}, opts: { log?: Logger } = {}): Promise<TestNode> {
  const port = await freePort();
  const config = loadConfig(DeliveryConfigSchema, {
    REDIS_URL: redisUrl,
    PUSHFLOW_REDIS_PREFIX: uniquePrefix(),
    PUSHFLOW_CONNECT_SECRET: SECRET,
    PUSHFLOW_NODE_ID: `node-${randomBytes(3).toString('hex')}`,
    DELIVERY_HOST: '127.0.0.1',
    DELIVERY_PORT: String(port),
    PUSHFLOW_HEARTBEAT_MS: '100',
    ...env,
  });
  const redis = createRedis(redisUrl, 'delivery-test');
  const blockingRedis = createRedis(redisUrl, 'delivery-test-consumer');
  const log = opts.log ?? createLogger('delivery-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const node = await startDeliveryNode({ config, redis, blockingRedis, log, blockMs: 200 }).catch((err: unknown) => {
    redis.disconnect();
    blockingRedis.disconnect();
    throw err;
  });
  return {
    node,
    config,
    redis,
    keys: makeKeys(config.PUSHFLOW_REDIS_PREFIX),
    url: (token) => `ws://127.0.0.1:${node.port}/ws?token=${encodeURIComponent(token)}`,
    async close() {
      await node.stop();
      await redis.quit();
      blockingRedis.disconnect();
    },
  };
}

/**
 * A test node on a Redis of its own for one describe block: started before its tests
 * (handed to `use`), stopped after them.
 */
export function withTestNode(env: Record<string, string>, use: (t: TestNode) => void): void {
  let redis: Server | undefined;
  let t: TestNode | undefined;
  before(async () => {
    redis = await redisServer();
    t = await startTestNode(redis.url, env);
    use(t);
  });
  after(async () => {
    await t?.close();
    await redis?.stop();
  });
}

export function tokenFor(sub: string, ttlSeconds = 60, secret = SECRET): Promise<string> {
  return signConnectToken({ sub, exp: Math.floor(Date.now() / 1000) + ttlSeconds }, secret);
}

/** A client that keeps every frame it receives, so tests can await frames sent before they looked. */
export interface TestClient {
  ws: WebSocket;
  frames: unknown[];
  closed: Promise<{ code: number; reason: string }>;
}

export function connectClient(url: string, opts: WebSocket.ClientOptions = {}): TestClient {
  const ws = new WebSocket(url, opts);
  const frames: unknown[] = [];
  ws.on('message', (data, isBinary) => frames.push(isBinary ? data : JSON.parse(data.toString())));
  ws.on('error', () => {}); // the close event carries what tests check
  const closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
  return { ws, frames, closed };
}

export async function openClient(url: string, opts: WebSocket.ClientOptions = {}): Promise<TestClient> {
  const client = connectClient(url, opts);
  await withTimeout(once(client.ws, 'open'), 2000, 'client did not open');
  return client;
}

/**
 * Opens a client for the recipient and resolves once the node has taken the socket (its
 * presence count went up). The WebSocket opens before the node has checked the token
 * (connect-key-settings.ts), and a push in between finds the recipient offline.
 */
export async function openAccepted(t: TestNode, recipientId: string): Promise<TestClient> {
  const before = Number((await t.redis.hget(t.keys.presence(recipientId), t.node.nodeId)) ?? 0);
  const client = await openClient(t.url(await tokenFor(recipientId)));
  await waitFor(
    `${recipientId}'s socket taken`,
    async () => (Number((await t.redis.hget(t.keys.presence(recipientId), t.node.nodeId)) ?? 0) > before ? true : undefined),
    10_000,
  );
  return client;
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function ledger(redis: RedisClient, keys: Keys): Promise<LedgerEvent[]> {
  const entries = await redis.xrange(keys.events(0), '-', '+');
  return entries.flatMap(([id, fields]) => {
    const { items, malformed } = eventCodec.decodeAll(fields);
    if (malformed.length > 0) throw new Error(`ledger entry ${id} does not decode: ${fields.join(' ')}`);
    return items;
  });
}

export async function eventsFor(t: TestNode, notificationId: string): Promise<LedgerEvent[]> {
  return (await ledger(t.redis, t.keys)).filter((e) => e.notificationId === notificationId);
}

/** Plays the dispatcher: appends a DeliveryRequest to the node's partition. */
export async function dispatch(t: TestNode, request: Record<string, unknown>): Promise<void> {
  await t.redis.xadd(t.keys.deliveries(t.node.nodeId), '*', ...encodeEntry(request));
}

export async function pendingCount(t: TestNode): Promise<number> {
  const [count] = (await t.redis.xpending(t.keys.deliveries(t.node.nodeId), 'delivery')) as [number, ...unknown[]];
  return Number(count);
}

/** Resolves once the node's presence count for the recipient is `count` (0: the field is gone). */
export async function presenceIs(t: TestNode, recipientId: string, count: number): Promise<void> {
  const want = count === 0 ? null : String(count);
  await waitFor(
    `presence of ${recipientId} = ${count}`,
    async () => ((await t.redis.hget(t.keys.presence(recipientId), t.node.nodeId)) === want ? true : undefined),
    2000,
  );
}

/** Entries in the events stream (the ledger). */
export async function ledgerLength(t: TestNode): Promise<number> {
  return t.redis.xlen(t.keys.events(0));
}
