import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { createRedis, historyOf, parseGroups, scanKeys, makeKeys, type NotificationDoc, type RedisClient } from '@pushflow/shared';
import { startStack, type Stack, type StackOptions } from '../../local-stack/stack.ts';
import { waitFor } from '../harness/wait.ts';

/**
 * What every fault test drives and checks: a burst of POSTs to connected and offline
 * users while something breaks, then the whole set: every 2xx has exactly one document,
 * in a terminal status, with no repeated history entries, and no stream has entries
 * left pending.
 */
export const burstSize = Number(process.env.PUSHFLOW_FAULT_BURST ?? 10_000);
const terminal = new Set(['DELIVERED', 'ACKNOWLEDGED', 'FAILED']);

/** 40 users with an open socket and 10 with none: the burst exercises both outcomes. */
export const onlineRecipients = Array.from({ length: 40 }, (_, i) => `online-${i}`);
export const burstRecipients = [...onlineRecipients, ...Array.from({ length: 10 }, (_, i) => `offline-${i}`)];

/**
 * A stack for one fault-test file, with a socket open for every online recipient; torn
 * down after the file. `prepare` runs before the clients connect (e.g. to add a process).
 */
export function faultStack(
  options: StackOptions,
  prepare?: (stack: Stack) => Promise<void>,
): { readonly stack: Stack; readonly clients: Clients } {
  let stack: Stack | undefined;
  let clients: Clients | undefined;
  before(async () => {
    stack = await startStack(options);
    await prepare?.(stack);
    clients = await connectClients(stack, onlineRecipients);
  });
  after(async () => {
    clients?.close();
    await stack?.stop();
  });
  return {
    get stack() {
      return stack!;
    },
    get clients() {
      return clients!;
    },
  };
}

export interface Clients {
  received: Map<string, number>;
  close(): void;
}

/** Opens one socket per online recipient on the given delivery node and counts frames. */
export async function connectClients(stack: Stack, recipients: string[], node = 0): Promise<Clients> {
  const received = new Map<string, number>();
  const sockets: WebSocket[] = [];
  const redis = createRedis(stack.redisUrl, 'test-clients');
  for (const recipientId of recipients) {
    const res = await fetch(`${stack.gatewayUrl}/connect-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ recipientId, ttlSeconds: 3600 }),
    });
    const { token } = (await res.json()) as { token: string };
    const ws = new WebSocket(`${stack.deliveryUrls[node]}/ws?token=${token}`);
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { notificationId: string };
      received.set(frame.notificationId, (received.get(frame.notificationId) ?? 0) + 1);
    });
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    sockets.push(ws);
    const key = makeKeys(stack.prefix).presence(recipientId);
    await waitFor(`presence of ${recipientId}`, async () => (Number(await redis.hget(key, stack.nodeIds[node]!)) > 0 ? true : undefined));
  }
  redis.disconnect();
  return {
    received,
    close: () => {
      for (const s of sockets) s.terminate();
    },
  };
}

export interface BurstResult {
  accepted: string[];
  attempts: number;
  statuses: Map<number, number>;
}

const answerWithinMs = 30_000;

/**
 * Sends `count` notifications over `concurrency` keep-alive connections, round-robin over
 * the recipients. `fault` runs once `faultAt` of them were sent, while sending goes on.
 */
export async function burst(
  stack: Stack,
  opts: {
    count?: number;
    recipients: string[];
    concurrency?: number;
    faultAt?: number;
    fault?: () => Promise<void>;
  },
): Promise<BurstResult> {
  const count = opts.count ?? burstSize;
  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  let faultDone: Promise<void> = Promise.resolve();
  const faultIndex = Math.floor(count * (opts.faultAt ?? 0.3));
  const send = async () => {
    while (next < count) {
      const i = next++;
      if (i === faultIndex && opts.fault) faultDone = opts.fault();
      const res = await fetch(`${stack.gatewayUrl}/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ recipientId: opts.recipients[i % opts.recipients.length], title: `#${i}` }),
        // The gateway answers within its reply timeout whatever breaks: a request still
        // open after this is counted as status -1, and the burst goes on.
        signal: AbortSignal.timeout(answerWithinMs),
      }).catch((err: Error) => (err.name === 'TimeoutError' ? { status: -1, text: async () => '' } : undefined));
      const status = res?.status ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const body = res ? await res.text() : '';
      if (status === 202) accepted.push((JSON.parse(body) as { notificationId: string }).notificationId);
      else if (status <= 0 || status >= 500) await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 32 }, send));
  await faultDone;
  return { accepted, attempts: count, statuses };
}

export interface Settled {
  byStatus: Record<string, number>;
  documents: number;
}

/** Waits (bounded) for every accepted notification to settle, then checks the invariants. */
export async function assertAllSettled(
  stack: Stack,
  result: BurstResult,
  timeoutMs = Number(process.env.PUSHFLOW_FAULT_SETTLE_MS ?? 120_000),
): Promise<Settled> {
  assert.ok(result.accepted.length > 0, `nothing was accepted: ${JSON.stringify([...result.statuses])}`);
  assert.equal(new Set(result.accepted).size, result.accepted.length, 'every 2xx has its own notification id');
  // A MongoDB that stops answering fails the check with what was unsettled, not the test's timeout.
  const mongo = new MongoClient(stack.mongoUrl, { serverSelectionTimeoutMS: 10_000, socketTimeoutMS: 30_000 });
  const redis = createRedis(stack.redisUrl, 'test-settled');
  try {
    const notifications = mongo.db().collection<NotificationDoc>('notifications');
    let docs = new Map<string, NotificationDoc>();
    let unsettled: string[] = [];
    await waitFor(
      'every accepted notification in a terminal status',
      async () => {
        docs = new Map((await notifications.find({}).toArray()).map((d) => [d._id, d]));
        unsettled = result.accepted.filter((id) => !terminal.has(docs.get(id)?.status ?? ''));
        return unsettled.length === 0 ? true : undefined;
      },
      timeoutMs,
      500,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${unsettled.length} unsettled: ${await diagnose(redis, stack.prefix, unsettled.slice(0, 3), docs)}`);
    });
    assert.ok(docs.size <= result.attempts, `${docs.size} documents for ${result.attempts} requests: a request made two notifications`);
    // Each command made one notification: no two documents name the same command, and a
    // keyed command's record (dispatcher/src/projection/command-claims.ts) names its document. Commands
    // without a key have no record: they name their notification (dispatcher/src/sending/send-plan.ts).
    const claimed = (await notifications.find({ commandId: { $exists: true } }, { projection: { commandId: 1 } }).toArray()) as unknown as {
      _id: string;
      commandId: string;
    }[];
    const perCommand = new Map<string, number>();
    for (const d of claimed) perCommand.set(d.commandId, (perCommand.get(d.commandId) ?? 0) + 1);
    const twice = [...perCommand].filter(([, n]) => n > 1).map(([commandId]) => commandId);
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} commands made more than one notification`);
    const records = new Map(
      (await mongo.db().collection<{ _id: string; notificationId: string }>('commands').find({}).toArray()).map((r) => [
        r._id,
        r.notificationId,
      ]),
    );
    const keyed = claimed.filter((d) => d.commandId.startsWith('idem:'));
    const unclaimed = keyed.filter((d) => records.get(d.commandId) !== d._id).map((d) => d._id);
    assert.deepEqual(
      unclaimed.slice(0, 5),
      [],
      `${unclaimed.length} keyed documents whose command record names another notification or none`,
    );
    assert.equal(records.size, keyed.length, 'one command record per keyed document');
    const byStatus: Record<string, number> = {};
    for (const id of result.accepted) {
      const doc = docs.get(id)!;
      byStatus[doc.status] = (byStatus[doc.status] ?? 0) + 1;
      const history = historyOf(doc);
      const seen = new Set(history.map((h) => `${h.status}/${h.nodeId ?? ''}/${h.reason ?? ''}`));
      assert.equal(seen.size, history.length, `${id} has a repeated history entry: ${JSON.stringify(history)}`);
    }
    await waitFor(
      'no entry left pending in any consumer group',
      async () => ((await pendingEntries(redis, stack.prefix)).length === 0 ? true : undefined),
      30_000,
      250,
    ).catch(async () => assert.fail(`pending entries left: ${JSON.stringify(await pendingEntries(redis, stack.prefix))}`));
    return { byStatus, documents: docs.size };
  } finally {
    await mongo.close();
    redis.disconnect();
  }
}

/** What the ledger and the groups say about a few stuck notifications, for the failure message. */
async function diagnose(redis: RedisClient, prefix: string, ids: string[], docs: Map<string, { status: string }>): Promise<string> {
  // Every events partition (one stream, `<prefix>events`, with PUSHFLOW_PARTITIONS=1).
  const streams = (await streamKeys(redis, `${prefix}events*`)).filter((s) => !s.endsWith(':dead'));
  const events = (await Promise.all(streams.map((s) => redis.xrange(s, '-', '+')))).flat();
  const lines = ids.map((id) => {
    const types = events
      .filter(([, f]) => f[1]!.includes(id))
      .map(([entryId, f]) => `${entryId} ${(JSON.parse(f[1]!) as { type: string }).type}`);
    return `${id} is ${docs.get(id)?.status ?? 'missing'}, ledger: [${types.join(', ')}]`;
  });
  const groups = await pendingEntries(redis, prefix);
  return `${lines.join('; ')}; pending: ${JSON.stringify(groups)}`;
}

async function streamKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const streams: string[] = [];
  for await (const found of scanKeys(redis, pattern, 1000, 'stream')) streams.push(...found);
  return streams;
}

async function pendingEntries(redis: RedisClient, prefix: string): Promise<{ stream: string; group: string; pending: number }[]> {
  const streams = await streamKeys(redis, `${prefix}*`);
  const out: { stream: string; group: string; pending: number }[] = [];
  for (const stream of streams) {
    for (const g of parseGroups(await redis.xinfo('GROUPS', stream))) {
      if (g.pending > 0) out.push({ stream, group: g.name, pending: g.pending });
    }
  }
  return out;
}

/** No frame reached a client twice (graceful stops only: a crash may redeliver, at least once). */
export function assertNoDuplicateFrames(clients: Clients): void {
  const dupes = [...clients.received].filter(([, n]) => n > 1);
  assert.equal(
    dupes.length,
    0,
    `notifications received more than once: ${dupes
      .slice(0, 5)
      .map(([id, n]) => `${id} x${n}`)
      .join(', ')}`,
  );
}
