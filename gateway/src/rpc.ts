import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  encodeEntry, replyCodec, toEntries, uuidv7,
  type Keys, type Logger, type NotificationContent, type RedisClient, type Reply, type SendCommand, type StatusQuery,
} from '@pushflow/shared';

/**
 * Request/reply with the dispatchers over Redis Streams (DESIGN.md, "The flow"): append a
 * command or query naming this gateway's reply stream, then wait for the reply carrying the
 * same correlation id. One reader loop serves every request in flight.
 */
export class DispatcherUnavailableError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'DispatcherUnavailableError';
  }
}

export class DispatcherTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no reply from a dispatcher within ${timeoutMs} ms`);
    this.name = 'DispatcherTimeoutError';
  }
}

export interface RpcOptions {
  /** Appends commands; fail-fast so an outage answers at once instead of queueing. */
  redis: RedisClient;
  /** Used only by the reader loop: XREAD BLOCK holds it. */
  blocking: RedisClient;
  keys: Keys;
  gatewayId: string;
  timeoutMs: number;
  log: Logger;
}

export type RequestKind = 'send' | 'status';

/** What a send carries when the caller sent an Idempotency-Key. */
export type SendIdempotency = Required<Pick<SendCommand, 'idempotencyKey' | 'requestHash'>>;

export interface Rpc {
  request(kind: RequestKind, payload: NotificationContent | string, idempotency?: SendIdempotency): Promise<Reply>;
  send(content: NotificationContent, idempotency?: SendIdempotency): Promise<Reply>;
  status(notificationId: string): Promise<Reply>;
  stop(): Promise<void>;
}

export function newGatewayId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const READ_COUNT = 500;
const READ_BLOCK_MS = 1000;
// A gateway that dies never deletes its reply stream; a TTL refreshed while it runs lets
// Redis drop the stream of a dead one. XREAD by id keeps working if the key is recreated.
const REPLY_STREAM_TTL_MS = 10 * 60_000;

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export function createRpc(opts: RpcOptions): Rpc {
  const { redis, blocking, keys, timeoutMs, log } = opts;
  const replyTo = keys.replies(opts.gatewayId);
  const pending = new Map<string, Pending>();
  let stopping = false;
  let lastExpire = 0;
  // disconnect() does not settle a command still in the offline queue (Redis was never
  // reached), so the loop also races its read against this.
  let onStop = () => {};
  const stopped = new Promise<null>((resolve) => { onStop = () => resolve(null); });

  function settle(correlationId: string): Pending | undefined {
    const p = pending.get(correlationId);
    if (!p) return undefined;
    pending.delete(correlationId);
    clearTimeout(p.timer);
    return p;
  }

  async function request(kind: RequestKind, payload: NotificationContent | string, idempotency?: SendIdempotency): Promise<Reply> {
    if (stopping) throw new DispatcherUnavailableError('gateway is shutting down');
    const correlationId = uuidv7();
    const envelope = { correlationId, replyTo, sentAt: Date.now() };
    const message: SendCommand | StatusQuery = kind === 'send'
      ? { type: 'notification.send', ...envelope, notification: payload as NotificationContent, ...idempotency }
      : { type: 'notification.status', ...envelope, notificationId: payload as string };
    // One recipient's sends share a partition, so one dispatcher handles them in order.
    const stream = kind === 'send' ? keys.commands(keys.partitionOf((payload as NotificationContent).recipientId)) : keys.queries;

    // Registered before the append: a fast dispatcher may reply before XADD returns.
    const answer = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (settle(correlationId)) reject(new DispatcherTimeoutError(timeoutMs));
      }, timeoutMs);
      pending.set(correlationId, { resolve, reject, timer });
    });
    // The timer may fire while XADD is still waiting (a cluster failover can outlast the
    // timeout): a rejection before anyone awaits `answer` would end the process.
    answer.catch(() => {});
    const appended = redis.xadd(stream, '*', ...encodeEntry(message)).then(() => answer, (err: Error) => {
      settle(correlationId);
      throw new DispatcherUnavailableError(`could not append to ${stream}: ${err.message}`, { cause: err });
    });
    // Raced with the answer, so the timeout holds even while the XADD itself is stuck: the
    // caller gets its 504 and never waits longer than PUSHFLOW_REPLY_TIMEOUT_MS.
    return Promise.race([appended, answer]);
  }

  function refreshTtl(): void {
    const now = Date.now();
    if (now - lastExpire < REPLY_STREAM_TTL_MS / 4) return;
    lastExpire = now;
    redis.pexpire(replyTo, REPLY_STREAM_TTL_MS).catch(() => { lastExpire = 0; });
  }

  async function readLoop(): Promise<void> {
    let lastId = '0-0';
    let backoff = 0;
    while (!stopping) {
      try {
        const read = blocking.call(
          'XREAD', 'COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', replyTo, lastId,
        ) as Promise<Parameters<typeof toEntries>[0]>;
        read.catch(() => {}); // after a stop nobody awaits it
        const raw = await Promise.race([read, stopped]);
        if (stopping) break;
        backoff = 0;
        const entries = toEntries(raw);
        for (const entry of entries) {
          lastId = entry.id;
          const reply = replyCodec.decode(entry.fields);
          if (!reply) {
            log.warn({ entryId: entry.id, stream: replyTo }, 'malformed reply entry ignored');
            continue;
          }
          // Unknown ids are replies to requests that already timed out.
          settle(reply.correlationId)?.resolve(reply);
        }
        if (entries.length > 0) refreshTtl();
      } catch (err) {
        if (stopping) break;
        backoff = Math.min(backoff ? backoff * 2 : 100, 2000);
        log.warn({ err: (err as Error).message, stream: replyTo }, 'reply stream read failed; retrying');
        await Promise.race([new Promise((r) => setTimeout(r, backoff)), stopped]);
      }
    }
  }

  const loop = readLoop();

  return {
    request,
    send: (content, idempotency) => request('send', content, idempotency),
    status: (notificationId) => request('status', notificationId),
    async stop() {
      if (stopping) return;
      stopping = true;
      onStop();
      blocking.disconnect(); // ends a blocked XREAD at once
      await loop;
      for (const id of [...pending.keys()]) settle(id)?.reject(new DispatcherUnavailableError('gateway is shutting down'));
      try {
        await redis.del(replyTo);
      } catch (err) {
        log.warn({ err: (err as Error).message, stream: replyTo }, 'could not delete reply stream; its TTL will');
      }
    },
  };
}
