import { randomUUID } from 'node:crypto';
import {
  entryTime,
  WEBHOOK_TEST_TYPE,
  within,
  type Keys,
  type Logger,
  type RedisClient,
  type StreamEntry,
  type WebhookPayload,
} from '@pushflow/shared';
import { readSnapshots } from '../projection/snapshots.ts';
import { findByIds, type Notifications } from '../projection/store.ts';
import type { AttemptLog } from './attempt-log.ts';
import type { EndpointCache, LiveEndpoint } from './endpoint-cache.ts';
import { createEndpointQueue, type EndpointQueue, type Queued } from './endpoint-queue.ts';
import { claimDue, storedId, type MessageWriter, type Messages, type StoredMessage } from './message-store.ts';
import { createRecipientMemory, eventsOf, messageIdOf, payloadOf, type RelayEvent } from './payloads.ts';
import type { Poster, PostResult } from './poster.ts';
import { retryDelayMs } from './retry-schedule.ts';

/**
 * The relay (docs/design.md, "Outcome webhooks"): a consumer group on every events
 * partition turns the events endpoints subscribe to into messages, and per-endpoint
 * queues send them.
 *
 * The happy path writes nothing but the XACK: a message's first attempt starts as soon as
 * its entry is read, and the entry stays pending in the group, so a relay killed now
 * leaves it to be read again, until every message of the batch is settled: it succeeded,
 * or it is in MongoDB's retry store. A first attempt not settled within the hand-off time
 * (a slow or dead endpoint) is stored there as it stands, so the batch is acked and the
 * relay reads on; the handler never waits for an endpoint, only for room in memory.
 * Stored messages come back through the feeder, which takes due ones for an endpoint only
 * while its queue has free slots.
 */
export interface RelaySettings {
  schedule: readonly number[];
  timeoutMs: number;
  concurrency: number;
  handoffMs: number;
  pollMs: number;
  /** PUSHFLOW_CLAIM_IDLE_MS: entries pending longer are claimed again by the consumer loop. */
  claimIdleMs: number;
  /** PUSHFLOW_CONSUMER_ID: the relay's name in the `webhooks` group. */
  consumer: string;
}

export interface RelayDeps {
  redis: RedisClient;
  keys: Keys;
  notifications: Notifications;
  messages: Messages;
  writer: MessageWriter;
  cache: EndpointCache;
  poster: Poster;
  attempts: AttemptLog;
  settings: RelaySettings;
  log: Logger;
  /** Told of every attempt, for the metrics. */
  onAttempt?(endpointId: string, outcome: AttemptOutcome, latencyMs: number): void;
}

export type AttemptOutcome = 'succeeded' | 'http_error' | 'timeout' | 'refused' | 'network_error';

export interface WebhookRelay {
  /** The consumer handler for one events partition stream. */
  ledgerHandler(stream: string, group: string): (entries: StreamEntry[]) => Promise<void>;
  /** Stores a `webhook.test` message for the endpoint and sends it now; its webhook-id. */
  sendTest(endpointId: string): Promise<string>;
  /** Messages held in memory, in flight and waiting, for every endpoint that has any. */
  inMemory(): [string, number][];
  /** Takes no more batches (they stay pending, read again at the next start); first step of a stop. */
  halt(): void;
  stop(): Promise<void>;
}

/** A message in memory: what the retry store keeps of it, and where it is in the relay. */
interface Message extends Queued, Pick<StoredMessage, 'endpointId' | 'messageId' | 'type' | 'notificationId' | 'body' | 'attempts'> {
  createdAt: number;
  /** In the retry store: its outcome is written there. */
  stored: boolean;
  /** Fresh messages only: the ledger batch it came from, and when it was queued. */
  batch?: Batch;
  queuedAt?: number;
  startedAt?: number;
}

interface Batch {
  stream: string;
  group: string;
  ids: string[];
  left: number;
  readAt: number;
}

/** How long past its longest possible attempt a stored message is held by the relay sending it. */
export const LEASE_MARGIN_MS = 5000;
/**
 * Stored messages the feeder takes for an endpoint at once, in slots: twice its
 * concurrency, so the next ones are in hand as soon as a slot frees. They wait at most two
 * attempts' time before theirs starts, which their lease (3 × timeout) covers.
 */
const FEED_SLOTS = 2;
const STORED_LEASE_TIMEOUTS = 3;
/**
 * The relay takes no new batch while this many fresh messages are unsettled (an endpoint
 * only busy drains its queue; nothing settles while MongoDB is away): the ledger holds the
 * rest meanwhile.
 */
const MAX_FRESH = 20_000;

export function createWebhookRelay(deps: RelayDeps): WebhookRelay {
  const { settings, log } = deps;
  const queues = new Map<string, EndpointQueue<Message>>();
  /** Fresh messages not settled yet, in the order they were queued. */
  const fresh = new Set<Message>();
  const running = new Set<Promise<void>>();
  const recipients = createRecipientMemory();
  /**
   * Endpoints seen slow lately (an attempt outlasted the hand-off time and nothing else was
   * answered meanwhile): their waiting messages are stored at once.
   */
  const slowUntil = new Map<string, number>();
  /** When each endpoint last answered an attempt, whatever the status. */
  const answeredAt = new Map<string, number>();
  /**
   * Memory is full (MAX_FRESH) and the handler waits: if several endpoints have messages
   * waiting, the one holding the most is treated as slow, so its waiting messages go to the
   * retry store and the others are not held up behind it. One endpoint alone is not: it is
   * then the relay's own pace that limits, and the store would only be a slower lane.
   */
  function spillHog(now: number): void {
    let hog: string | undefined;
    let most = 0;
    let busy = 0;
    for (const [endpointId, q] of queues) {
      if (q.waiting === 0) continue;
      busy++;
      if (q.waiting > most) [hog, most] = [endpointId, q.waiting];
    }
    if (busy > 1 && hog !== undefined) slowUntil.set(hog, now + 5 * settings.handoffMs);
  }
  const stopSignal = new AbortController();
  let stopping = false;

  const queueOf = (endpointId: string) => {
    let q = queues.get(endpointId);
    if (!q) {
      q = createEndpointQueue<Message>(settings.concurrency, (m) => track(attempt(m).finally(() => refill(endpointId))));
      queues.set(endpointId, q);
    }
    return q;
  };

  function track(p: Promise<void>): Promise<void> {
    running.add(p);
    return p.finally(() => running.delete(p));
  }

  function settle(m: Message): void {
    if (!m.batch || !fresh.delete(m)) return;
    const batch = m.batch;
    if (--batch.left === 0) ack(batch);
  }

  function ack(batch: Batch): void {
    unacked.delete(batch);
    deps.redis.xack(batch.stream, batch.group, ...batch.ids).catch((err: Error) =>
      // Left pending: read again after a reconnect, sent again under the same webhook-id.
      log.warn({ err: err.message, stream: batch.stream }, 'webhook relay could not ack; its entries will be sent again'),
    );
  }

  function storedForm(m: Message, nextAttemptAt: Date, state: StoredMessage['state'], lastError?: string): StoredMessage {
    return {
      _id: storedId(m.endpointId, m.messageId),
      endpointId: m.endpointId,
      messageId: m.messageId,
      type: m.type,
      ...(m.notificationId !== undefined && { notificationId: m.notificationId }),
      body: m.body,
      attempts: m.attempts,
      state,
      nextAttemptAt,
      createdAt: new Date(m.createdAt),
      updatedAt: new Date(),
      ...(lastError !== undefined && { lastError }),
    };
  }

  async function attempt(m: Message): Promise<void> {
    const endpoint = deps.cache.known().get(m.endpointId);
    // Deleted: its stored messages went with it.
    if (!endpoint) return settle(m);
    // Stopping: not sent, not settled. A fresh one's entry stays pending in the ledger, a
    // stored one is due again once its lease ends: either way another start sends it.
    if (stopping) return;
    if (!endpoint.enabled) {
      // A fresh message for an endpoint disabled since its batch was read is dropped, as
      // events after the switch are; a stored one waits, its lease runs out, and the
      // feeder leaves it alone until the endpoint is enabled again.
      return settle(m);
    }
    const at = new Date();
    m.startedAt = at.getTime();
    const result = await post(endpoint, m, at);
    // Cut short by stop(): left as if never tried, as above.
    if (!result.ok && stopSignal.signal.aborted) return;
    if (result.status !== undefined) answeredAt.set(m.endpointId, Date.now());
    m.attempts++;
    const outcome = outcomeOf(result);
    deps.onAttempt?.(m.endpointId, outcome, result.latencyMs);
    const record = {
      messageId: m.messageId,
      event: m.type,
      ...(m.notificationId !== undefined && { notificationId: m.notificationId }),
      attempt: m.attempts,
      ...(result.status !== undefined && { status: result.status }),
      ...(result.error !== undefined && { error: result.error }),
      latencyMs: result.latencyMs,
      at: at.toISOString(),
    };
    if (result.ok) {
      deps.attempts.record(m.endpointId, { ...record, outcome: 'succeeded' });
      if (m.stored) void deps.writer.remove(m.endpointId, m.messageId);
      return settle(m);
    }
    const delay = retryDelayMs(settings.schedule, m.attempts);
    const why = result.error ?? `HTTP ${result.status}`;
    if (delay === undefined) {
      deps.attempts.record(m.endpointId, { ...record, outcome: 'failed' });
      log.warn(
        { endpointId: m.endpointId, messageId: m.messageId, notificationId: m.notificationId, attempts: m.attempts, why },
        'webhook message failed for good; kept',
      );
    } else {
      deps.attempts.record(m.endpointId, { ...record, outcome: 'retrying', nextRetryAt: new Date(Date.now() + delay).toISOString() });
    }
    // Deleted while the POST was out (its stored messages went with it): nothing to keep.
    if (!deps.cache.known().has(m.endpointId)) return settle(m);
    m.stored = true;
    // Awaited before the lane's next message starts: "settled" means stored for its retry.
    await deps.writer.put(
      storedForm(m, new Date(Date.now() + (delay ?? 0)), delay === undefined ? 'failed' : 'pending', why.slice(0, 300)),
    );
    settle(m);
  }

  function post(endpoint: LiveEndpoint, m: Message, at: Date): Promise<PostResult> {
    const headers = {
      'webhook-id': m.messageId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': endpoint.sign(m.messageId, at, m.body),
    };
    return deps.poster.post(endpoint.url, headers, m.body, stopSignal.signal);
  }

  /**
   * Moves fresh messages into the retry store, so their batches can be acked: an attempt
   * that outlasted the hand-off time (the endpoint is slow, and so is marked), and the
   * messages waiting behind a slow endpoint. Messages of an endpoint that is only busy stay
   * in memory, however long its queue (the handler's limits bound it): the happy path writes
   * nothing to MongoDB, and the retry store is no slower lane for a fast endpoint.
   */
  function handOff(): void {
    const now = Date.now();
    for (const m of fresh) {
      if (now - m.queuedAt! < settings.handoffMs) break;
      if (m.started) {
        if (now - m.startedAt! < settings.handoffMs) continue;
        // Still answering others: busy, not slow. Its queue drains at its pace, in memory.
        if (now - (answeredAt.get(m.endpointId) ?? 0) < settings.handoffMs) continue;
        slowUntil.set(m.endpointId, now + 5 * settings.handoffMs);
      } else if ((slowUntil.get(m.endpointId) ?? 0) < now) continue;
      const q = queueOf(m.endpointId);
      // Not started: due at once, the feeder brings it back when the endpoint has room.
      // In flight: held until its attempt must be over; its outcome then overwrites this.
      const withdrawn = q.withdraw(m);
      const due = withdrawn ? new Date(now) : new Date(now + settings.timeoutMs + LEASE_MARGIN_MS);
      m.stored = true;
      fresh.delete(m);
      const batch = m.batch!;
      void deps.writer.put(storedForm(m, due, 'pending')).then(() => {
        if (--batch.left === 0) ack(batch);
      });
    }
  }

  /** Endpoints whose last claim took all it asked for: more may be due at once. */
  const moreDue = new Set<string>();

  async function feed(): Promise<void> {
    const endpoints = await deps.cache.current();
    const leaseUntil = () => new Date(Date.now() + STORED_LEASE_TIMEOUTS * settings.timeoutMs + LEASE_MARGIN_MS);
    for (const endpoint of endpoints.values()) {
      if (!endpoint.enabled || stopping) continue;
      const q = queueOf(endpoint.id);
      const room = FEED_SLOTS * settings.concurrency - q.running - q.waiting;
      if (room < settings.concurrency / 2) continue;
      const claimed = await claimDue(deps.messages, endpoint.id, room, leaseUntil());
      if (claimed.length === room) moreDue.add(endpoint.id);
      else moreDue.delete(endpoint.id);
      for (const doc of claimed) q.push(fromStored(doc));
    }
  }

  /** A backlog drains at the endpoint's pace, not the poll's: a freed slot asks for more at once. */
  function refill(endpointId: string): void {
    if (!moreDue.has(endpointId) || stopping) return;
    const q = queues.get(endpointId);
    if (q && q.waiting < settings.concurrency / 2) kickFeed();
  }

  let feeding: Promise<void> | undefined;
  function kickFeed(): void {
    feeding ??= feed()
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook feeder could not read the retry store; will try again'))
      .finally(() => (feeding = undefined));
  }

  /**
   * Batches whose messages are not all settled yet. Their entries stay pending under our
   * name; the consumer loop would take an entry idle for PUSHFLOW_CLAIM_IDLE_MS as left by
   * a dead consumer, hand it over again (a duplicate) and, after PUSHFLOW_MAX_ATTEMPTS such
   * claims, dead-letter it. While MongoDB is away nothing settles, so the relay keeps its
   * entries fresh: XCLAIM to itself with JUSTID resets their idle time without counting a
   * delivery.
   */
  const unacked = new Set<Batch>();
  const keepAliveMs = Math.max(250, Math.floor(settings.claimIdleMs / 3));
  function keepPending(): void {
    const now = Date.now();
    for (const b of unacked) {
      if (now - b.readAt < keepAliveMs) continue;
      b.readAt = now;
      deps.redis
        .call('XCLAIM', b.stream, b.group, settings.consumer, 0, ...b.ids, 'JUSTID')
        .catch((err: Error) => log.warn({ err: err.message, stream: b.stream }, 'webhook relay could not keep its entries pending'));
    }
  }
  const keepAliveTimer = setInterval(keepPending, keepAliveMs);

  const handOffEvery = Math.max(10, Math.floor(settings.handoffMs / 4));
  let lastHandOff = Date.now();
  const handOffTimer = setInterval(() => {
    const now = Date.now();
    const late = now - lastHandOff - handOffEvery;
    lastHandOff = now;
    // This thread did not run for a while (a saturated CPU serves it last, relay-host.ts):
    // the attempts' ages include that wait, and the answers that came meanwhile are not
    // read yet, so they say nothing about the endpoints this time.
    if (late > handOffEvery) return;
    handOff();
  }, handOffEvery);
  const feedTimer = setInterval(kickFeed, settings.pollMs);

  async function recipientsOf(events: RelayEvent[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const missing = new Set<string>();
    for (const e of events) {
      const r = e.recipientId ?? recipients.recall(e.notificationId);
      if (r !== undefined) found.set(e.notificationId, r);
      else missing.add(e.notificationId);
    }
    if (missing.size === 0) return found;
    // Forgotten (a restart, a long lag): the sender's snapshot, or the projected document.
    const ids = [...missing];
    const snapshots = await readSnapshots(deps.redis, deps.keys, ids);
    const rest = ids.filter((id) => !snapshots.has(id));
    const docs = rest.length > 0 ? await findByIds(deps.notifications, rest) : new Map();
    for (const id of ids) {
      const r = snapshots.get(id)?.recipientId ?? docs.get(id)?.recipientId;
      if (r !== undefined) found.set(id, r);
    }
    return found;
  }

  function ledgerHandler(stream: string, group: string) {
    return async function relayLedgerBatch(entries: StreamEntry[]): Promise<void> {
      // Left pending: this consumer name reads them again when it starts.
      if (stopping) return;
      const ids = entries.map((e) => e.id);
      const endpoints = [...(await deps.cache.current()).values()].filter((e) => e.enabled);
      const wanted: [RelayEvent, LiveEndpoint[]][] = [];
      if (endpoints.length > 0) {
        for (const entry of entries) {
          // An endpoint gets what was appended while it was enabled, however late this reads
          // it: a lagging or replayed relay sends no event older than the endpoint's start.
          const appendedAt = entryTime(entry.id);
          for (const e of eventsOf([entry])) {
            if (e.type === 'notification.accepted' && e.recipientId !== undefined) recipients.remember(e.notificationId, e.recipientId);
            const to = endpoints.filter((ep) => ep.events.has(e.type) && appendedAt >= ep.activeSince);
            if (to.length > 0) wanted.push([e, to]);
          }
        }
      }
      if (wanted.length === 0) {
        await deps.redis.xack(stream, group, ...ids);
        return;
      }
      const recipientIds = await recipientsOf(wanted.map(([e]) => e));
      // Memory is bounded here: the consumer loop reads nothing more meanwhile.
      while (!stopping && fresh.size > MAX_FRESH) {
        spillHog(Date.now());
        await new Promise((r) => setTimeout(r, 10));
      }
      if (stopping) return;
      const now = Date.now();
      const messages: Message[] = [];
      for (const [e, to] of wanted) {
        const messageId = messageIdOf(e);
        const body = JSON.stringify(payloadOf(e, recipientIds.get(e.notificationId)));
        for (const ep of to) {
          messages.push({
            lane: e.notificationId,
            endpointId: ep.id,
            messageId,
            type: e.type,
            notificationId: e.notificationId,
            body,
            attempts: 0,
            createdAt: now,
            stored: false,
            queuedAt: now,
          });
        }
      }
      const batch: Batch = { stream, group, ids, left: messages.length, readAt: now };
      unacked.add(batch);
      for (const m of messages) {
        m.batch = batch;
        fresh.add(m);
      }
      for (const m of messages) queueOf(m.endpointId).push(m);
    };
  }

  return {
    ledgerHandler,
    async sendTest(endpointId) {
      const now = Date.now();
      const messageId = `msg_${randomUUID().replaceAll('-', '')}`;
      const at = new Date(now).toISOString();
      const payload: WebhookPayload = { type: WEBHOOK_TEST_TYPE, timestamp: at, data: { at } };
      const m: Message = {
        lane: messageId,
        endpointId,
        messageId,
        type: WEBHOOK_TEST_TYPE,
        body: JSON.stringify(payload),
        attempts: 0,
        createdAt: now,
        stored: true,
      };
      // Stored first and leased to us: a test is at least once like any other message.
      await deps.writer.put(storedForm(m, new Date(now + settings.timeoutMs + LEASE_MARGIN_MS), 'pending'));
      await deps.cache.current();
      queueOf(endpointId).push(m);
      return messageId;
    },
    inMemory() {
      const counts: [string, number][] = [];
      for (const [endpointId, q] of queues) if (q.running + q.waiting > 0) counts.push([endpointId, q.running + q.waiting]);
      return counts;
    },
    halt() {
      stopping = true;
    },
    async stop() {
      stopping = true;
      clearInterval(handOffTimer);
      clearInterval(feedTimer);
      clearInterval(keepAliveTimer);
      await within(2000, feeding ?? Promise.resolve());
      // Nothing is written for what is not settled: its batch stays pending in the ledger,
      // and the next start (or the dispatcher that takes the lease) reads it again and
      // sends its messages again under the same webhook-ids. Storing them instead took far
      // longer than a shutdown has with 20,000 in memory.
      // In-flight attempts get a moment to finish.
      await within(2000, Promise.all(running));
      stopSignal.abort();
      // Bounded: with MongoDB away nothing can be stored, and what is not is still pending in
      // the ledger or due again in the store.
      await within(
        3000,
        Promise.all(running).then(() => deps.writer.idle()),
      );
      await deps.poster.close();
    },
  };
}

function fromStored(doc: StoredMessage): Message {
  return {
    lane: doc._id,
    endpointId: doc.endpointId,
    messageId: doc.messageId,
    type: doc.type,
    ...(doc.notificationId !== undefined && { notificationId: doc.notificationId }),
    body: doc.body,
    attempts: doc.attempts,
    createdAt: doc.createdAt.getTime(),
    stored: true,
  };
}

function outcomeOf(r: PostResult): AttemptOutcome {
  if (r.ok) return 'succeeded';
  if (r.status !== undefined) return 'http_error';
  if (r.error?.startsWith('timeout')) return 'timeout';
  if (r.error?.startsWith('refused')) return 'refused';
  return 'network_error';
}
