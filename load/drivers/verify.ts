import { MongoClient } from 'mongodb';
import { now, sleep } from './clock.ts';

/**
 * Waits, up to a deadline, until every accepted notification is DELIVERED in the status
 * store, then reports how many ended in which status. Reads the `notifications`
 * collection directly when a MongoDB URL is known, otherwise asks the gateway.
 *
 * Reading thousands of ids is not free, and a poll that competes with the projector slows
 * what it measures. So the wait polls a small sample of pending ids by _id (cheap), and
 * reads every pending id only once the whole sample is DELIVERED: from MongoDB, in one
 * pass over the run's documents (those of its recipients, whose ids share a prefix). Not
 * with an `$in` of the ids: FerretDB compares each document with every id of the list,
 * and 20,000 ids over as many documents took it 10 s, which the catch-up time then showed.
 */
export interface StatusCounts {
  via: 'mongodb' | 'http';
  statuses: Record<string, number>;
  notFound: number;
  /**
   * When every status was DELIVERED (clock.now), or null if the deadline came first: the
   * poll whose sample was all DELIVERED, once a read of every other pending id confirmed
   * it. Dated by the sample, not by that read, which takes FerretDB seconds (4 s for 13,000
   * documents here): an id outside the sample projected during the read would make it
   * early by at most the read's time, confirmedAt - completeAt.
   */
  completeAt: number | null;
  /** When the confirming read was done; null with completeAt. */
  confirmedAt: number | null;
}

/** Statuses of the given ids; an id missing from the map has no document. */
type Reader = (ids: string[]) => Promise<Map<string, string>>;

export interface StatusSource {
  gatewayUrl: string;
  apiKey: string;
  mongoUrl?: string;
}

const sampleSize = 32;

/** What a run's statuses are read with: `recipientPrefix` starts each of its recipients' ids. */
export interface Run {
  ids: string[];
  recipientPrefix: string;
}

export async function awaitDelivered(source: StatusSource, run: Run, deadline: number): Promise<StatusCounts> {
  const { ids } = run;
  const reader = openReader(source, run.recipientPrefix);
  try {
    const pending = new Set(ids);
    const last = new Map<string, string>();
    const settle = (read: Map<string, string>) => {
      for (const [id, status] of read) {
        last.set(id, status);
        if (status === 'DELIVERED') pending.delete(id);
      }
    };
    let completeAt: number | null = null;
    let confirmedAt: number | null = null;
    for (;;) {
      const sample = sampleOf(pending);
      const sampled = await reader.few(sample);
      const sampledAt = now();
      const sampleDone = sample.every((id) => sampled.get(id) === 'DELIVERED');
      const whole = sample.length === pending.size;
      settle(sampled);
      if (!whole && (sampleDone || now() >= deadline)) settle(await reader.all([...pending]));
      if (pending.size === 0) {
        completeAt = sampleDone ? sampledAt : now();
        confirmedAt = now();
        break;
      }
      if (now() >= deadline) break;
      await sleep(500);
    }
    const statuses: Record<string, number> = {};
    const add = (status: string, n: number) => {
      if (n > 0) statuses[status] = (statuses[status] ?? 0) + n;
    };
    add('DELIVERED', ids.length - pending.size);
    let notFound = 0;
    for (const id of pending) {
      const s = last.get(id);
      if (s === undefined) notFound++;
      else add(s, 1);
    }
    return { via: reader.via, statuses, notFound, completeAt, confirmedAt };
  } finally {
    await reader.close();
  }
}

/**
 * About how many of the run's ids, in their order, are DELIVERED now: the length of the
 * DELIVERED stretch at their head, found by bisection, one read by _id a step (17 for
 * 100,000 ids). The projector works through notifications in about the order they were
 * accepted, so this estimates how far it got without a scan of the collection, which
 * would take FerretDB seconds and slow the projector it is measuring.
 */
export async function deliveredHead(source: StatusSource, run: Run): Promise<number> {
  const reader = openReader(source, run.recipientPrefix);
  try {
    let [lo, hi] = [0, run.ids.length];
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const id = run.ids[mid]!;
      if ((await reader.few([id])).get(id) === 'DELIVERED') lo = mid + 1;
      else hi = mid;
    }
    return lo;
  } finally {
    await reader.close();
  }
}

/** The most recently accepted pending ids (likely the last projected) and a spread of the rest. */
function sampleOf(pending: Set<string>): string[] {
  const list = [...pending];
  if (list.length <= sampleSize) return list;
  const half = sampleSize / 2;
  const picked = list.slice(-half);
  const step = (list.length - half) / half;
  for (let i = 0; i < half; i++) picked.push(list[Math.floor(i * step)]!);
  return picked;
}

/** `few` reads a handful of ids, `all` any number: from MongoDB when its URL is known, else through the gateway. */
function openReader(
  source: StatusSource,
  recipientPrefix: string,
): { via: StatusCounts['via']; few: Reader; all: Reader; close(): Promise<void> } {
  if (!source.mongoUrl) return { via: 'http', ...fromGateway(source), close: async () => {} };
  const client = new MongoClient(source.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  return { via: 'mongodb', ...fromMongo(client, recipientPrefix), close: () => client.close() };
}

function fromMongo(client: MongoClient, recipientPrefix: string): { few: Reader; all: Reader } {
  const col = client.db().collection<{ _id: string; status: string; recipientId: string }>('notifications');
  // The run's documents are those of its recipients.
  const ofRun = { recipientId: { $regex: `^${recipientPrefix.replace(/[^\w-]/g, '\\$&')}` } };
  const toMap = (docs: { _id: string; status: string }[]) => new Map(docs.map((d) => [d._id, d.status]));
  return {
    async few(ids) {
      const docs = await Promise.all(ids.map((_id) => col.findOne({ _id }, { projection: { status: 1 } })));
      return toMap(docs.filter((d) => d !== null));
    },
    // Every document of the run's recipients, one pass, kept where asked for.
    async all(ids) {
      const wanted = new Set(ids);
      const found = new Map<string, string>();
      for await (const d of col.find(ofRun, { projection: { status: 1 } })) {
        if (wanted.has(d._id)) found.set(d._id, d.status);
      }
      return found;
    },
  };
}

function fromGateway(source: StatusSource): { few: Reader; all: Reader } {
  const read: Reader = async (ids) => {
    const found = new Map<string, string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(16, ids.length) }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const res = await fetch(`${source.gatewayUrl}/notifications/${id}/status`, {
            headers: { authorization: `Bearer ${source.apiKey}` },
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined);
          if (!res) continue;
          const body = await res.text();
          if (res.status === 200) found.set(id, (JSON.parse(body) as { status: string }).status);
        }
      }),
    );
    return found;
  };
  return { few: read, all: read };
}
