import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  backoffMs,
  entriesOf,
  groupBy,
  replyCodec,
  toEntries,
  uuidv7,
  type Keys,
  type Logger,
  type NotificationContent,
  type RedisClient,
  type Reply,
  type SendCommand,
  type StatusQuery,
  type WebhookAdminRequest,
} from '@pushflow/shared';

/**
 * Request/reply with the dispatchers over Redis Streams (docs/design.md, "The flow of a notification"): append
 * commands or a query naming this gateway's reply stream, then wait for the replies carrying
 * the same correlation ids. One reader loop serves every request in flight.
 */
export class DispatcherUnavailableError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'DispatcherUnavailableError';
  }
}

export class DispatcherTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no reply from a dispatcher within ${timeoutMs} ms`);
    this.name = 'DispatcherTimeoutError';
    this.timeoutMs = timeoutMs;
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
  /**
   * Sends many notifications: one command each, appended as one entry per commands
   * partition. Resolves with one reply per notification, in request order; except that with
   * an Idempotency-Key, when the first notification is refused, it resolves with that
   * refusal alone and the others were never sent (see below).
   */
  sendMany(contents: NotificationContent[], idempotency?: SendIdempotency): Promise<Reply[]>;
  status(notificationId: string): Promise<Reply>;
  /** A webhook admin request, answered by any dispatcher from MongoDB. */
  webhookAdmin(request: WebhookAdminCall): Promise<Reply>;
  stop(): Promise<void>;
}

/** Omit over each member of a union (plain Omit would merge them into one object). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A webhook admin request as a route makes it: the envelope is the rpc's. */
export type WebhookAdminCall = OmitEach<WebhookAdminRequest, 'type' | 'correlationId' | 'replyTo' | 'sentAt'>;

export function newGatewayId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const READ_COUNT = 500;
const READ_BLOCK_MS = 1000;
// A gateway that dies never deletes its reply stream; a TTL refreshed while it runs lets
// Redis drop the stream of a dead one. XREAD by id keeps working if the key is recreated.
const REPLY_STREAM_TTL_MS = 10 * 60_000;
/** The dispatcher refuses a longer key as malformed (SendCommand's schema). */
const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** Messages one coalesced entry holds at most; a bigger turn's worth goes in several. */
const MAX_COALESCED = 1000;

/** The replies one request waits for: one timer for all of them, settled once. */
interface Waiting {
  ids: string[];
  replies: Reply[];
  left: number;
  timer: NodeJS.Timeout;
  done: boolean;
  resolve(replies: Reply[]): void;
  reject(err: Error): void;
}

export function createRpc(opts: RpcOptions): Rpc {
  const { redis, blocking, keys, timeoutMs, log } = opts;
  const replyTo = keys.replies(opts.gatewayId);
  const pending = new Map<string, { waiting: Waiting; index: number }>();
  let stopping = false;
  let lastExpire = 0;
  // disconnect() does not settle a command still in the offline queue (Redis was never
  // reached), so the loop also races its read against this.
  let onStop = () => {};
  const stopped = new Promise<null>((resolve) => {
    onStop = () => resolve(null);
  });

  function fail(waiting: Waiting, err: Error): void {
    if (waiting.done) return;
    waiting.done = true;
    clearTimeout(waiting.timer);
    for (const id of waiting.ids) pending.delete(id);
    waiting.reject(err);
  }

  function settle(reply: Reply): void {
    const found = pending.get(reply.correlationId);
    // Unknown ids are replies to requests that already timed out.
    if (!found) return;
    pending.delete(reply.correlationId);
    const { waiting, index } = found;
    waiting.replies[index] = reply;
    if (--waiting.left > 0) return;
    waiting.done = true;
    clearTimeout(waiting.timer);
    waiting.resolve(waiting.replies);
  }

  /**
   * Messages bound for one stream leave in one batched entry: one XADD, one system call and
   * one entry for the dispatcher to read, however many requests are in flight. An entry goes
   * out once the turn's I/O callbacks are done (setImmediate) and the stream's previous XADD
   * has been answered (a group commit): idle, a request waits for nothing; busy, everything
   * that arrives during one round trip to Redis shares the next entry.
   */
  const outbox = new Map<string, { messages: unknown[]; appended: Promise<unknown> }>();
  /** Each stream's last XADD, settled or not. */
  const lastAppend = new Map<string, Promise<unknown>>();
  function append(stream: string, messages: unknown[]): Promise<unknown> {
    let batch = outbox.get(stream);
    if (!batch || batch.messages.length >= MAX_COALESCED) {
      const queued: unknown[] = [];
      const previous = lastAppend.get(stream);
      const appended = new Promise((resolve) => setImmediate(resolve))
        .then(() => previous?.catch(() => {}))
        .then(() => {
          if (outbox.get(stream)?.messages === queued) outbox.delete(stream);
          // One connection keeps several entries (PUSHFLOW_ENTRY_FORMAT=single) in order.
          return Promise.all(entriesOf(queued).map((fields) => redis.xadd(stream, '*', ...fields)));
        });
      // Every caller awaits it; this keeps a rejection nobody awaits yet from ending the process.
      appended.catch(() => {});
      lastAppend.set(stream, appended);
      appended.finally(() => lastAppend.get(stream) === appended && lastAppend.delete(stream)).catch(() => {});
      batch = { messages: queued, appended };
      outbox.set(stream, batch);
    }
    batch.messages.push(...messages);
    return batch.appended;
  }

  /**
   * Appends the messages, then waits for a reply to every id until `deadline` (epoch ms).
   * The ids are registered before the appends: a fast dispatcher may reply before XADD returns.
   */
  function call(appends: { stream: string; messages: unknown[] }[], ids: string[], deadline = Date.now() + timeoutMs): Promise<Reply[]> {
    if (stopping) return Promise.reject(new DispatcherUnavailableError('gateway is shutting down'));
    let waiting!: Waiting;
    const answer = new Promise<Reply[]>((resolve, reject) => {
      const timer = setTimeout(() => fail(waiting, new DispatcherTimeoutError(timeoutMs)), Math.max(0, deadline - Date.now()));
      waiting = { ids, replies: new Array<Reply>(ids.length), left: ids.length, done: false, resolve, reject, timer };
    });
    ids.forEach((id, index) => {
      pending.set(id, { waiting, index });
    });
    // The timer may fire while XADD is still waiting (a cluster failover can outlast the
    // timeout): a rejection before anyone awaits `answer` would end the process.
    answer.catch(() => {});
    // In parallel rather than in one pipeline: on a Redis Cluster each partition's stream
    // is on a slot of its own, and a pipeline must stay on one.
    const appended = Promise.all(
      appends.map(({ stream, messages }) =>
        append(stream, messages).catch((err: Error) => {
          throw new DispatcherUnavailableError(`could not append to ${stream}: ${err.message}`, { cause: err });
        }),
      ),
    ).then(
      () => answer,
      (err: Error) => {
        fail(waiting, err);
        throw err;
      },
    );
    // Raced with the answer, so the timeout holds even while the XADD itself is stuck: the
    // caller gets its 504 and never waits longer than PUSHFLOW_REPLY_TIMEOUT_MS.
    return Promise.race([appended, answer]);
  }

  function sendCommand(content: NotificationContent, key?: string, requestHash?: string): SendCommand {
    return {
      type: 'notification.send',
      correlationId: uuidv7(),
      replyTo,
      sentAt: Date.now(),
      notificationId: uuidv7(),
      notification: content,
      ...(key !== undefined && { idempotencyKey: key, requestHash }),
    };
  }

  /** One recipient's sends share a partition, so one dispatcher handles them in order. */
  const partitionStream = (command: SendCommand) => keys.commands(keys.partitionOf(command.notification.recipientId));

  /** Commands go to their partition in request order, coalesced with the turn's other requests (append). */
  function sendCommands(commands: SendCommand[], deadline?: number): Promise<Reply[]> {
    const appends = [...groupBy(commands, partitionStream)].map(([stream, messages]) => ({ stream, messages }));
    return call(
      appends,
      commands.map((c) => c.correlationId),
      deadline,
    );
  }

  async function request(kind: RequestKind, payload: NotificationContent | string, idempotency?: SendIdempotency): Promise<Reply> {
    if (kind === 'send') {
      const [reply] = await sendCommands([
        sendCommand(payload as NotificationContent, idempotency?.idempotencyKey, idempotency?.requestHash),
      ]);
      return reply!;
    }
    const query: StatusQuery = {
      type: 'notification.status',
      correlationId: uuidv7(),
      replyTo,
      sentAt: Date.now(),
      notificationId: payload as string,
    };
    const [reply] = await call([{ stream: keys.queries, messages: [query] }], [query.correlationId]);
    return reply!;
  }

  /**
   * With an Idempotency-Key, notification i carries `<key>:<i>` and the hash of the whole
   * batch, so the dispatcher's claim of each command makes a retry of the same batch answer
   * with the same ids, and refuses (IDEMPOTENCY_KEY_REUSED) the commands of a different
   * batch sent with the same key. The first notification is sent alone and first: every
   * batch has one, so a different batch is always refused there, before any other of its
   * notifications is queued; a refusal of the whole request never leaves some of it sent
   * (a longer batch's extra notifications would have no claim to collide with).
   */
  async function sendMany(contents: NotificationContent[], idempotency?: SendIdempotency): Promise<Reply[]> {
    if (contents.length === 0) return [];
    if (!idempotency) return sendCommands(contents.map((content) => sendCommand(content)));
    const keyOf = (i: number) => `${idempotency.idempotencyKey}:${i}`;
    if (keyOf(contents.length - 1).length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new RangeError(`idempotency keys of a batch of ${contents.length} would be over ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    }
    const commands = contents.map((content, i) => sendCommand(content, keyOf(i), idempotency.requestHash));
    // Both steps within one timeout, as any other request.
    const deadline = Date.now() + timeoutMs;
    const [head] = await sendCommands(commands.slice(0, 1), deadline);
    if (!head!.ok || commands.length === 1) return [head!];
    return [head!, ...(await sendCommands(commands.slice(1), deadline))];
  }

  function refreshTtl(): void {
    const now = Date.now();
    if (now - lastExpire < REPLY_STREAM_TTL_MS / 4) return;
    lastExpire = now;
    redis.pexpire(replyTo, REPLY_STREAM_TTL_MS).catch(() => {
      lastExpire = 0;
    });
  }

  async function readLoop(): Promise<void> {
    let lastId = '0-0';
    let failures = 0;
    while (!stopping) {
      try {
        const read = blocking.call('XREAD', 'COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', replyTo, lastId) as Promise<
          Parameters<typeof toEntries>[0]
        >;
        read.catch(() => {}); // after a stop nobody awaits it
        const raw = await Promise.race([read, stopped]);
        if (stopping) break;
        failures = 0;
        const entries = toEntries(raw);
        for (const entry of entries) {
          lastId = entry.id;
          // A dispatcher answers a batch of commands with one entry per gateway.
          const { items, malformed } = replyCodec.decodeAll(entry.fields);
          for (const reply of items) settle(reply);
          if (malformed.length > 0)
            log.warn({ entryId: entry.id, stream: replyTo, malformed: malformed.length }, 'malformed replies ignored');
        }
        if (entries.length > 0) refreshTtl();
      } catch (err) {
        if (stopping) break;
        log.warn({ err: (err as Error).message, stream: replyTo }, 'reply stream read failed; retrying');
        await Promise.race([new Promise((r) => setTimeout(r, backoffMs(failures++, 100, 2000))), stopped]);
      }
    }
  }

  const loop = readLoop();

  return {
    request,
    send: (content, idempotency) => request('send', content, idempotency),
    sendMany,
    status: (notificationId) => request('status', notificationId),
    async webhookAdmin(admin) {
      const message = { ...admin, type: 'webhook.admin', correlationId: uuidv7(), replyTo, sentAt: Date.now() };
      const [reply] = await call([{ stream: keys.webhookAdmin, messages: [message] }], [message.correlationId]);
      return reply!;
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      onStop();
      blocking.disconnect(); // ends a blocked XREAD at once
      await loop;
      for (const { waiting } of [...pending.values()]) fail(waiting, new DispatcherUnavailableError('gateway is shutting down'));
      try {
        await redis.del(replyTo);
      } catch (err) {
        log.warn({ err: (err as Error).message, stream: replyTo }, 'could not delete reply stream; its TTL will');
      }
    },
  };
}
