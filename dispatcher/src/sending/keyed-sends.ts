import { evolve, type Logger, type NotificationDoc, type Reply } from '@pushflow/shared';
import { acceptedEvent, acceptedReply, docOf, plan, type Planned } from './send-plan.ts';
import { insertAccepted, storeDocuments, type Notifications } from '../projection/store.ts';

/**
 * The keyed path: commands sent with an Idempotency-Key. Each is claimed in MongoDB's
 * `commands` collection and its document inserted before anything is appended
 * (projection/store.ts insertAccepted); the claim finds the notification made first, for as long as
 * that document lives (30 days by default), on every dispatcher: correctness over speed.
 * A retry with another body is refused, and a retry with the same body is answered with
 * the first notification and routed no further.
 */
/** What a keyed command comes to: what to route, if anything, and its reply. */
export interface KeyedAnswer {
  routed?: Planned;
  reply: { replyTo: string; reply: Reply };
}

export async function answerKeyed(
  notifications: Notifications,
  keyed: Planned[],
  plannedIds: ReadonlySet<string>,
  routes: Map<string, string[]>,
  log: Logger,
): Promise<Map<Planned, KeyedAnswer>> {
  const answers = new Map<Planned, KeyedAnswer>();
  if (keyed.length === 0) return answers;
  const stored = await insertAccepted(notifications, keyed.map(docOf));
  /**
   * Documents of keyed notifications this batch answers with but did not store: their
   * claim is made, yet the attempt that made it may not have inserted the document yet
   * (another dispatcher between its two inserts) or ever (it died there).
   */
  const claimedElsewhere = new Map<string, NotificationDoc>();
  for (const p of keyed) {
    const first = stored.get(p.accepted.commandId);
    if (!first) {
      answers.set(p, { routed: p, reply: acceptedReply(p.command, p.notificationId, p.accepted.at) });
      continue;
    }
    if (first.requestHash !== p.command.requestHash) {
      log.info({ notificationId: first.notificationId }, 'idempotency key reused for a different request; refused');
      answers.set(p, {
        reply: {
          replyTo: p.command.replyTo,
          reply: {
            correlationId: p.command.correlationId,
            ok: false,
            error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
          },
        },
      });
      continue;
    }
    const reply = acceptedReply(p.command, first.notificationId, first.acceptedAt);
    // Only this command's own earlier attempt can have died before its events were
    // appended: its claim names the id this command proposes, or (a gateway that gave no
    // id) another id not made in this batch. A notification stored by another command is
    // that command's to route. Routed again with today's route, and answered with the
    // first attempt's acceptance: the projector folds the new dispatch in.
    if (first.notificationId === p.notificationId || (p.redelivered && !plannedIds.has(first.notificationId))) {
      const again = plan(p.command, true, first.notificationId, routes, first.acceptedAt);
      claimedElsewhere.set(again.notificationId, docOf(again));
      answers.set(p, { routed: again, reply });
      continue;
    }
    log.debug({ notificationId: first.notificationId }, 'retry answered with the notification stored first');
    // Without its route, which is the attempt's that stored it: the projector folds that in.
    if (!plannedIds.has(first.notificationId) && !claimedElsewhere.has(first.notificationId)) {
      claimedElsewhere.set(first.notificationId, evolve(null, acceptedEvent(p.command, first.notificationId, first.acceptedAt)));
    }
    answers.set(p, { reply });
  }
  // Before the answer, so that a status read finds what it names. Where the document is
  // already, its _id refuses this one.
  await storeDocuments(notifications, [...claimedElsewhere.values()]);
  return answers;
}
