import { Cluster, type ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis.ts';

/**
 * Batches of commands over many keys, on one Redis or on a Redis Cluster.
 *
 * A phase is a function that queues commands on a pipeline. On one Redis all phases go into
 * ONE pipeline, in order: the hot path costs one round trip, as it always did, and Redis
 * runs the commands in the order they were queued. A Redis Cluster refuses a pipeline whose
 * keys live on different nodes, so there each phase is split per master and the parts are
 * sent in parallel; the next phase starts only once every part of the one before succeeded.
 * Callers put what must be seen first (ledger events, snapshots) in an earlier phase than
 * what announces it (replies) and what forgets the command (XACK).
 *
 * A MULTI...EXEC queued in a phase is kept whole; its keys must share one slot (a cluster
 * cannot run a transaction across slots, so on a cluster one over two slots is refused,
 * code CROSSSLOT_TRANSACTION, before anything is sent).
 */
export type Phase = ((pipe: ChainableCommander) => void) & { [REPLICATED]?: true };
export type PipelineResults = [error: Error | null, result: unknown][];

const REPLICATED = Symbol('replicated');
/** How long a replicated phase waits for a replica of each master it wrote to. */
export const REPLICA_WAIT_MS = 1000;

/**
 * Marks a phase whose writes must be on a replica before the next phase runs: on a cluster
 * each of its per-master pipelines ends with WAIT 1, so what a later phase announces (a
 * reply, an XACK) survives that master's failover. Redis replicates asynchronously; without
 * it an acked write can die with its master. A master without replicas (its replica took
 * over and it has none yet) is not waited for: the wait could never succeed.
 */
export function replicated(phase: (pipe: ChainableCommander) => void): Phase {
  return Object.assign((pipe: ChainableCommander) => phase(pipe), { [REPLICATED]: true as const });
}

/** Runs the phases in order; throws the first error (one inside a MULTI too) after the phase that met it. */
export async function writeInOrder(redis: RedisClient, phases: Phase[]): Promise<PipelineResults> {
  if (!(redis instanceof Cluster)) {
    const pipe = redis.pipeline();
    for (const phase of phases) phase(pipe);
    if (pipe.length === 0) return [];
    const results = (await pipe.exec()) ?? [];
    throwFirstError(results);
    return results;
  }
  const all: PipelineResults = [];
  for (const phase of phases) {
    const results = await runSplit(redis, record(phase), phase[REPLICATED] === true);
    throwFirstError(results);
    all.push(...results);
  }
  return all;
}

/**
 * One pipeline's worth of commands (reads, usually) with the results in queue order, as
 * `pipeline().exec()` gives them; errors are left in the results for the caller to judge.
 */
export async function pipelined(redis: RedisClient, fill: Phase): Promise<PipelineResults> {
  if (!(redis instanceof Cluster)) {
    const pipe = redis.pipeline();
    fill(pipe);
    return pipe.length === 0 ? [] : ((await pipe.exec()) ?? []);
  }
  return runSplit(redis, record(fill));
}

function throwFirstError(results: PipelineResults): void {
  for (const [err, value] of results) {
    if (err) throw err;
    if (Array.isArray(value)) for (const v of value) if (v instanceof Error) throw v;
  }
}

export class CrossSlotTransactionError extends Error {
  readonly code = 'CROSSSLOT_TRANSACTION';
}

type Queued = { method: string; args: unknown[] };
/** Commands that must reach the same node together: one command, or a whole MULTI...EXEC. */
type Unit = { commands: Queued[]; slot: number | undefined };

/** The phase's commands as queued, grouped into units, without sending anything. */
function record(phase: Phase): Unit[] {
  const queued: Queued[] = [];
  const recorder: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_target, method) {
      if (method === 'length') return queued.length;
      if (typeof method !== 'string' || method === 'then') return undefined;
      return (...args: unknown[]) => {
        queued.push({ method, args });
        return recorder;
      };
    },
  });
  phase(recorder);
  const units: Unit[] = [];
  let tx: Queued[] | undefined;
  for (const q of queued) {
    const name = q.method.toLowerCase();
    if (name === 'multi') {
      tx = [q];
    } else if (tx) {
      tx.push(q);
      if (name === 'exec') {
        units.push({ commands: tx, slot: txSlot(tx) });
        tx = undefined;
      }
    } else {
      units.push({ commands: [q], slot: slotOf(q) });
    }
  }
  if (tx) throw new Error('a MULTI without its EXEC');
  return units;
}

function txSlot(tx: Queued[]): number | undefined {
  const slots = new Set(tx.map(slotOf).filter((s) => s !== undefined));
  if (slots.size > 1)
    throw new CrossSlotTransactionError(
      `a MULTI spans ${slots.size} slots: ${tx
        .map((q) => firstKey(q))
        .filter(Boolean)
        .join(', ')}`,
    );
  return [...slots][0];
}

function slotOf(q: Queued): number | undefined {
  const key = firstKey(q);
  return key === undefined ? undefined : keySlot(key);
}

/** The first key of the commands PushFlow queues; all but EVAL/EVALSHA name it first. */
function firstKey({ method, args }: Queued): string | undefined {
  const name = method.toLowerCase();
  if (name === 'multi' || name === 'exec') return undefined;
  const key = name === 'eval' || name === 'evalsha' ? args[2] : args[0];
  return typeof key === 'string' || Buffer.isBuffer(key) ? String(key) : undefined;
}

/** One pipeline per master, in parallel; results put back in the order queued. */
async function runSplit(cluster: Cluster, units: Unit[], waitForReplica = false): Promise<PipelineResults> {
  // Until the slot map is loaded every unit would go alone, and ioredis drops an EXEC
  // queued before it: one keyless command waits for the map (or fails fast, like the rest).
  if (cluster.slots.length === 0) await cluster.ping();
  const groups = new Map<string, number[]>();
  units.forEach((u, i) => {
    // Keyed by the slot's node list, as ioredis checks a pipeline's keys; a slot not yet
    // mapped (cluster still starting) goes alone, and ioredis finds its node.
    const nodes = u.slot === undefined ? undefined : cluster.slots[u.slot];
    const group = u.slot === undefined ? 'any' : nodes?.length ? nodes.join(';') : `slot:${u.slot}`;
    const list = groups.get(group) ?? [];
    list.push(i);
    groups.set(group, list);
  });
  const byUnit: PipelineResults[] = new Array(units.length);
  await Promise.all(
    [...groups].map(async ([group, indexes]) => {
      const pipe = cluster.pipeline() as unknown as Record<string, (...args: unknown[]) => unknown> & ChainableCommander;
      for (const i of indexes) for (const q of units[i]!.commands) pipe[q.method]!(...q.args);
      // The node list is master first, then its replicas; WAIT rides on the same connection.
      const replicas = group.split(';').length - 1;
      if (waitForReplica && replicas > 0) pipe.call('WAIT', 1, REPLICA_WAIT_MS);
      const results = (await pipe.exec()) ?? [];
      let at = 0;
      for (const i of indexes) {
        const n = units[i]!.commands.length;
        byUnit[i] = results.slice(at, at + n) as PipelineResults;
        at += n;
      }
    }),
  );
  return byUnit.flat();
}

/** Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of its hash tag, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
