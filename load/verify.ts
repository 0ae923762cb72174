import { MongoClient } from 'mongodb';
import { now, sleep } from './clock.ts';

/**
 * Waits, up to a deadline, until every accepted notification is DELIVERED in the status
 * store, then reports how many ended in which status. Reads the `notifications`
 * collection directly when a MongoDB URL is known, otherwise asks the gateway.
 *
 * Reading thousands of ids is not free (FerretDB scans the whole collection for an $in),
 * and a poll that competes with the projector slows what it measures. So the wait polls
 * a small sample of pending ids by _id (cheap), and reads every pending id only once the
 * whole sample is DELIVERED.
 */
export interface StatusCounts {
  via: 'mongodb' | 'http';
  statuses: Record<string, number>;
  notFound: number;
  /** When every status was DELIVERED (clock.now), or null if the deadline came first. */
  completeAt: number | null;
}

/** Statuses of the given ids; an id missing from the map has no document. */
type Reader = (ids: string[]) => Promise<Map<string, string>>;

export interface StatusSource {
  gatewayUrl: string;
  apiKey: string;
  mongoUrl?: string;
}

const sampleSize = 32;

export async function awaitDelivered(source: StatusSource, ids: string[], deadline: number): Promise<StatusCounts> {
  const mongo = source.mongoUrl ? new MongoClient(source.mongoUrl, { serverSelectionTimeoutMS: 10_000 }) : undefined;
  try {
    const reader = mongo ? fromMongo(mongo) : fromGateway(source);
    const pending = new Set(ids);
    let last = new Map<string, string>();
    let completeAt: number | null = null;
    for (;;) {
      const sample = sampleOf(pending);
      const sampled = await reader.few(sample);
      const sampleDone = sample.every((id) => sampled.get(id) === 'DELIVERED');
      if (sampleDone || now() >= deadline) {
        last = await reader.all([...pending]);
        for (const [id, status] of last) if (status === 'DELIVERED') pending.delete(id);
      } else {
        for (const id of sample) if (sampled.get(id) === 'DELIVERED') pending.delete(id);
      }
      if (pending.size === 0) {
        completeAt = now();
        break;
      }
      if (now() >= deadline) break;
      await sleep(500);
    }
    const statuses: Record<string, number> = {};
    const add = (status: string, n: number) => { if (n > 0) statuses[status] = (statuses[status] ?? 0) + n; };
    add('DELIVERED', ids.length - pending.size);
    let notFound = 0;
    for (const id of pending) {
      const s = last.get(id);
      if (s === undefined) notFound++;
      else add(s, 1);
    }
    return { via: mongo ? 'mongodb' : 'http', statuses, notFound, completeAt };
  } finally {
    await mongo?.close();
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

function fromMongo(client: MongoClient): { few: Reader; all: Reader } {
  const col = client.db().collection<{ _id: string; status: string }>('notifications');
  const toMap = (docs: { _id: string; status: string }[]) => new Map(docs.map((d) => [d._id, d.status]));
  return {
    async few(ids) {
      const docs = await Promise.all(ids.map((_id) => col.findOne({ _id }, { projection: { status: 1 } })));
      return toMap(docs.filter((d) => d !== null));
    },
    // Few large $in queries rather than many small ones: each may cost a collection scan.
    async all(ids) {
      const found = new Map<string, string>();
      for (let i = 0; i < ids.length; i += 20_000) {
        const docs = await col.find({ _id: { $in: ids.slice(i, i + 20_000) } }, { projection: { status: 1 } }).toArray();
        for (const [id, s] of toMap(docs)) found.set(id, s);
      }
      return found;
    },
  };
}

function fromGateway(source: StatusSource): { few: Reader; all: Reader } {
  const read: Reader = async (ids) => {
    const found = new Map<string, string>();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, async () => {
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
    }));
    return found;
  };
  return { few: read, all: read };
}
