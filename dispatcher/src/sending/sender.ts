import {
  decodeEntries,
  entriesOf,
  queueDeadItems,
  queueLedgerBatches,
  replicated,
  sendCommandCodec,
  writeInOrder,
  type DeliveryRequest,
  type Keys,
  type LedgerCounter,
  type Logger,
  type RedisClient,
  type StreamEntry,
} from '@pushflow/shared';
import { answerKeyed } from './keyed-sends.ts';
import { refusalReplies } from './refusals.ts';
import { queueReplies } from './replies.ts';
import { routeRecipients } from './router.ts';
import { acceptedReply, deliveryRequest, notificationIdOf, plan, type Planned } from './send-plan.ts';
import { queueSnapshots } from '../projection/snapshots.ts';
import type { Notifications } from '../projection/store.ts';

/**
 * Handles one batch of `notification.send` commands: routing, then ordered writes (one
 * pipeline on one Redis) that append the ledger events (one batched entry per events
 * partition), the status snapshots, the delivery entries (one per node), the replies (one
 * per gateway) and the XACK. The projector (projection/projector.ts) builds the MongoDB documents from
 * those events.
 *
 * Each command names its notification: the gateway gave it an id when it took the request
 * (an older gateway's command uses its correlation id, unique per command too). A command's
 * id is its correlation id, or `idem:<key>` when the caller sent an Idempotency-Key.
 * - Without a key (the hot path), neither Redis nor MongoDB is asked anything: a command
 *   read again after a crash makes the same notification, and its events and deliveries
 *   are appended again (the projection folds repeats into one document; clients dedupe
 *   frames by notificationId). A read of the status before the projector wrote the
 *   document is answered from the snapshot (projection/snapshots.ts).
 * - With a key, the command takes the keyed path (keyed-sends.ts): claimed in MongoDB
 *   before anything is appended, correctness over speed.
 */
export interface SenderDeps {
  redis: RedisClient;
  keys: Keys;
  notifications: Notifications;
  log: Logger;
  /** The commands partition stream this handler's entries come from (it acks them there). */
  stream: string;
  group: string;
  nodeTtlMs: number;
  /** How long a status snapshot lives at most (PUSHFLOW_COMMAND_MEMORY_SECONDS); ten minutes by default. */
  snapshotMs?: number;
  /** Told the events once they are written. */
  ledger?: LedgerCounter;
  /**
   * Where each recipient's sockets are (recipient id -> live node ids, sorted); the
   * dispatcher's in-memory route table (route-table.ts). Without it, presence is read
   * from Redis for every batch (router.ts).
   */
  route?: (recipientIds: string[], now: number) => Promise<Map<string, string[]>>;
}

export function createSendHandler(deps: SenderDeps) {
  const { redis, keys, log } = deps;
  const snapshotMs = deps.snapshotMs ?? 600_000;

  const route = deps.route ?? ((recipientIds: string[], now: number) => routeRecipients(redis, keys, recipientIds, deps.nodeTtlMs, now));

  return async function handleSendBatch(entries: StreamEntry[]): Promise<void> {
    const now = Date.now();
    // Malformed commands are set aside one by one, in the same pipeline as the good
    // commands' writes, and their callers answered: a batch entry never loses its good ones.
    const { items: commands, setAside } = decodeEntries(sendCommandCodec, entries, (command, entry) => ({
      command,
      redelivered: entry.redelivered === true,
    }));
    if (setAside.length > 0)
      log.error({ stream: deps.stream, entryIds: setAside.map((j) => j.entryId) }, 'malformed send commands dead-lettered');

    // Every command the codec passed can be stored: its refine holds `data` to the key rules
    // (checkData) and the schema holds the content to CONTENT_CEILINGS, far below BSON's
    // 16 MiB, so no document is serialized here only to find out. Should the database refuse
    // one anyway, the projector sets its events aside (projection/store.ts).
    const routes = await route(
      commands.map((c) => c.command.notification.recipientId),
      now,
    );
    const planned = commands.map(({ command, redelivered }) => plan(command, redelivered, notificationIdOf(command), routes, now));
    const plannedIds = new Set(planned.map((p) => p.notificationId));
    const keyed = await answerKeyed(
      deps.notifications,
      planned.filter((p) => p.command.idempotencyKey !== undefined),
      plannedIds,
      routes,
      log,
    );

    // In command order, so that one recipient's notifications reach it in the order sent.
    const routed: Planned[] = [];
    const replies = refusalReplies(
      keys,
      setAside.flatMap((j) => j.malformed),
      log,
    );
    for (const p of planned) {
      const answer = keyed.get(p);
      if (answer) {
        if (answer.routed) routed.push(answer.routed);
        replies.push(answer.reply);
        continue;
      }
      routed.push(p);
      replies.push(acceptedReply(p.command, p.notificationId, now));
    }

    // In order: the ledger events and snapshots, the deliveries, the replies, the XACK. On
    // one Redis that is one pipeline (ordered-writes.ts); on a cluster each step waits for
    // the one before, so an answer never names a notification whose events could be lost,
    // a delivered event never precedes its accepted one, and an entry is acked last. The
    // first two steps wait for a replica (on a cluster), so a failover cannot take back
    // what the reply promises. Each step appends one batched entry per stream it writes to:
    // one per events partition (a notification's accepted and dispatched events inside one
    // entry, so a projector never reads one without the other), one per delivery node and
    // one per gateway.
    await writeInOrder(redis, [
      replicated((pipe) => {
        queueLedgerBatches(
          pipe,
          keys,
          routed.flatMap((p) => p.events),
        );
        // A keyed command's document is in MongoDB already.
        queueSnapshots(
          pipe,
          keys,
          routed.filter((p) => p.command.idempotencyKey === undefined),
          snapshotMs,
        );
      }),
      replicated((pipe) => {
        const perNode = new Map<string, DeliveryRequest[]>();
        for (const p of routed) {
          if (p.nodes.length === 0) continue;
          const request = deliveryRequest(p);
          for (const node of p.nodes) {
            const batch = perNode.get(node);
            if (batch) batch.push(request);
            else perNode.set(node, [request]);
          }
        }
        for (const [node, batch] of perNode) for (const fields of entriesOf(batch)) pipe.xadd(keys.deliveries(node), '*', ...fields);
      }),
      (pipe) => queueReplies(pipe, replies),
      (pipe) => {
        queueDeadItems(pipe, deps.stream, deps.group, setAside);
        pipe.xack(deps.stream, deps.group, ...entries.map((e) => e.id));
      },
    ]);
    deps.ledger?.written(routed.flatMap((p) => p.events));

    for (const p of routed) {
      log.debug(
        { notificationId: p.notificationId, recipientId: p.command.notification.recipientId, nodes: p.nodes },
        'notification accepted',
      );
    }
  };
}
