import { isDeepStrictEqual } from 'node:util';
import type { Collection, Db } from 'mongodb';
import { compareIds, eventCodec, type Keys, type LedgerEvent, type Logger, type RedisClient } from '@pushflow/shared';
import { commandsCollectionFor } from './command-claims.ts';
import { applyEvents, openNotifications, type Notifications, type StoredDoc } from './store.ts';

/**
 * Rebuilds the status collection from the ledger (docs/design.md, "Projection rules": replaying
 * the whole ledger into an empty collection yields the same documents). It reads with
 * XRANGE, not through a consumer group, so it changes nothing in Redis, and it writes only
 * into a fresh collection, and its command records into a fresh companion
 * (`<collection>_commands`), so the pair it leaves is consistent as the live pair is. It can only rebuild what the ledger still holds: retention
 * trims old entries, and a notification whose early events are gone comes out partial.
 */
export interface ReplayDeps {
  redis: RedisClient;
  keys: Keys;
  db: Db;
  /** Must be empty or missing, and so must `<collection>_commands`; defaults to `notifications_replay_<timestamp>`. */
  collection?: string;
  batchSize?: number;
  statusTtlDays?: number;
  log: Logger;
}

export interface ReplayResult {
  collection: string;
  /** Where the replay's command records went. */
  commands: string;
  events: number;
  /** Entries that did not decode as ledger events. */
  skipped: number;
  documents: number;
  /** Id of the oldest ledger entry replayed: what retention left of the ledger. */
  ledgerFrom?: string;
  ledgerTo?: string;
}

export class ReplayTargetNotEmpty extends Error {
  readonly collection: string;
  constructor(collection: string) {
    super(`collection ${collection} is not empty; a replay writes only into a fresh collection`);
    this.name = 'ReplayTargetNotEmpty';
    this.collection = collection;
  }
}

export function defaultReplayCollection(now = new Date()): string {
  return `notifications_replay_${now.toISOString().replace(/[-:.]/g, '')}`;
}

export async function replayLedger(deps: ReplayDeps): Promise<ReplayResult> {
  const { keys, db, log } = deps;
  const batch = deps.batchSize ?? 1000;
  const name = deps.collection ?? defaultReplayCollection();
  const commands = commandsCollectionFor(name);
  for (const target of [name, commands]) {
    if ((await db.collection(target).countDocuments({}, { limit: 1 })) > 0) throw new ReplayTargetNotEmpty(target);
  }
  const col = await openNotifications(db, name, { statusTtlDays: deps.statusTtlDays, log });

  const result: ReplayResult = { collection: name, commands, events: 0, skipped: 0, documents: 0 };
  // A notification's events all sit in one partition, in order, so partitions replay one
  // after another.
  for (const stream of keys.allEvents) {
    const range = await replayStream(deps, stream, col, batch, result);
    if (!range) continue;
    if (result.ledgerFrom === undefined || compareIds(range.from, result.ledgerFrom) < 0) result.ledgerFrom = range.from;
    if (result.ledgerTo === undefined || compareIds(range.to, result.ledgerTo) > 0) result.ledgerTo = range.to;
  }
  result.documents = await col.countDocuments();
  log.info({ ...result }, 'ledger replayed');
  return result;
}

export interface Comparison {
  identical: boolean;
  compared: number;
  /** Ids whose documents differ or exist on one side only; at most `limit`. */
  differing: string[];
  differingCount: number;
}

/**
 * Walks both collections in _id order and compares documents, ignoring `version` (how many
 * writes a document took depends on how events were batched, not on what they say) and a
 * `history` stored by an older version (derived, not a fact: projection.ts). Takes command
 * records (command-claims.ts) too, which have neither and compare whole.
 */
export async function compareCollections(a: Collection<StoredDoc>, b: Collection<StoredDoc>, limit = 1000): Promise<Comparison> {
  const left = a.find({}).sort({ _id: 1 });
  const right = b.find({}).sort({ _id: 1 });
  const out: Comparison = { identical: true, compared: 0, differing: [], differingCount: 0 };
  const differ = (id: string) => {
    out.identical = false;
    out.differingCount++;
    if (out.differing.length < limit) out.differing.push(id);
  };
  try {
    let l = await left.next();
    let r = await right.next();
    while (l || r) {
      out.compared++;
      if (l && (!r || l._id < r._id)) {
        differ(l._id);
        l = await left.next();
      } else if (r && (!l || r._id < l._id)) {
        differ(r._id);
        r = await right.next();
      } else {
        if (!isDeepStrictEqual(comparable(l!), comparable(r!))) differ(l!._id);
        l = await left.next();
        r = await right.next();
      }
    }
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
  return out;
}

function comparable(doc: StoredDoc): Omit<StoredDoc, 'version'> {
  const { version: _v, history: _h, ...rest } = doc as StoredDoc & { history?: unknown };
  return rest;
}

/** Replays one events partition into `col`, counting into `result`; the ids it spanned. */
async function replayStream(
  deps: ReplayDeps,
  stream: string,
  col: Notifications,
  batch: number,
  result: ReplayResult,
): Promise<{ from: string; to: string } | undefined> {
  const { redis, log } = deps;
  // Up to the newest entry now: events appended while we replay are the live projector's.
  const newest = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  const top = newest[0]?.[0];
  if (top === undefined) return undefined;
  let from: string | undefined;
  let start = '-';
  for (;;) {
    const page = await redis.xrange(stream, start, top, 'COUNT', batch);
    if (page.length === 0) break;
    from ??= page[0]![0];
    const events: LedgerEvent[] = [];
    for (const [id, fields] of page) {
      const { items, malformed } = eventCodec.decodeAll(fields);
      events.push(...items);
      if (malformed.length > 0) {
        result.skipped += malformed.length;
        log.warn({ entryId: id, stream, malformed: malformed.length }, 'skipping malformed ledger events');
      }
    }
    await applyEvents(col, events, { log });
    result.events += events.length;
    log.debug({ events: result.events, stream, at: page[page.length - 1]![0] }, 'replay progress');
    if (page.length < batch) break;
    start = `(${page[page.length - 1]![0]}`;
  }
  return from === undefined ? undefined : { from, to: top };
}
