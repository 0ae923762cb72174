import { ensureGroup, isRedisError, type Consumer, type Logger, type RedisClient } from '@pushflow/shared';
import { runEvery } from '../chores/periodic.ts';
import type { EndpointCache } from './endpoint-cache.ts';

/**
 * The relay's place on one events partition. While some endpoint is enabled, the relay's
 * consumer reads the partition. While none is, nothing reads it: every `pollMs` the group is
 * moved past what was appended, so a stack with no webhooks pays nothing for the relay but
 * these few commands (reading every ledger entry to send nothing took 5 to 9% of the
 * dispatcher's CPU, docs/performance.md).
 *
 * Skipping keeps the relay's promise that an event appended after a create's (or enable's)
 * answer is matched against the endpoint: the stream's last id is read first, then the
 * endpoint version, and the group moves only to that id, and only if the version still says
 * no endpoint is enabled. An endpoint answered later bumped the version later, so every event
 * appended after its answer is past that id.
 */
export interface LedgerFollowerDeps {
  /** A non-blocking connection: XINFO, GET and XGROUP SETID only. */
  redis: RedisClient;
  stream: string;
  group: string;
  cache: EndpointCache;
  pollMs: number;
  /** Starts the relay's consumer on the stream. */
  consume(): Consumer;
  log: Logger;
}

export interface LedgerFollower {
  /** Stops the consumer if it runs (it finishes the batch in hand), then the polling. */
  stop(): Promise<void>;
}

export function followLedger(deps: LedgerFollowerDeps): LedgerFollower {
  const { redis, stream, group } = deps;
  let consumer: Consumer | undefined;
  let grouped = false;
  const anyEnabled = async () => [...(await deps.cache.current()).values()].some((e) => e.enabled);

  async function turn(): Promise<void> {
    if (consumer) {
      if (await anyEnabled()) return;
      // It settles the batch in hand as the relay does any; the next turn moves the group on.
      const c = consumer;
      consumer = undefined;
      await c.stop();
      return;
    }
    const last = await lastEntry(redis, stream); // before the endpoints: see above
    if (await anyEnabled()) {
      consumer = deps.consume();
      return;
    }
    if (!last) return;
    if (!grouped) await ensureGroup(redis, stream, group, '$'); // as webhooks.ts makes it
    grouped = true;
    await redis.xgroup('SETID', stream, group, last.id, 'ENTRIESREAD', last.entriesAdded);
  }

  // A failed turn skips nothing, and the next one makes the group again if the stream was
  // deleted meanwhile (the group goes with it).
  const turns = runEvery(
    `webhook relay's place in ${stream}`,
    deps.pollMs,
    () =>
      turn().catch((err: unknown) => {
        grouped = false;
        throw err;
      }),
    deps.log,
  );

  return {
    async stop() {
      await turns.stop();
      await consumer?.stop();
      consumer = undefined;
    },
  };
}

/** The stream's last id and how many entries were ever added to it; none while it does not exist. */
async function lastEntry(redis: RedisClient, stream: string): Promise<{ id: string; entriesAdded: number } | undefined> {
  let info: unknown[];
  try {
    info = (await redis.call('XINFO', 'STREAM', stream)) as unknown[];
  } catch (err) {
    if (isRedisError(err, 'ERR no such key')) return undefined;
    throw err;
  }
  const field = (name: string) => info[info.indexOf(name) + 1];
  return { id: String(field('last-generated-id')), entriesAdded: Number(field('entries-added')) };
}
