import {
  entryTime,
  eventCodec,
  evolve,
  failureReasons,
  statuses,
  type FailureReason,
  type LedgerEvent,
  type NotificationDoc,
  type Status,
} from '@pushflow/shared';

/**
 * What the dashboard shows of the recent ledger: the newest entries of the events stream,
 * read newest first up to a cap, folded into counts, a per-second throughput series and a
 * list of recent notifications. Pure, so it is tested without Redis.
 *
 * A stream entry's id starts with the millisecond Redis appended it at, so entry ids alone
 * say when each event happened; nothing else needs to be stored for the throughput chart.
 * The status shown here is what the window's events say; a notification's full history
 * comes from the status store (GET /notifications/{id}/status).
 */
export type RawEntry = [id: string, fields: string[]];

export interface WindowNotification {
  notificationId: string;
  recipientId?: string;
  title?: string;
  status: Status;
  reason?: FailureReason;
  /** Epoch ms of its accepted event; absent when that event is older than the window. */
  acceptedAt?: number;
  updatedAt: number;
}

export interface ThroughputPoint {
  /** Epoch ms of the second's start. */
  t: number;
  accepted: number;
  delivered: number;
  failed: number;
  acknowledged: number;
}

export interface LedgerWindow {
  /** Epoch ms the window starts and ends at (start: the oldest entry read when the cap cut it short). */
  from: number;
  to: number;
  events: number;
  /** True when the cap stopped the read before the window's start. */
  truncated: boolean;
  /** Notifications seen in the window, newest first. */
  notifications: WindowNotification[];
}

/** What the window's events say of one notification: the status store's own fold of them. */
interface Fold {
  doc: NotificationDoc;
  /** When its newest entry in the window was appended. */
  updatedAt: number;
}

/** A ledger event with the time its entry was appended (from the entry id). */
export interface TimedEvent {
  at: number;
  event: LedgerEvent;
}

/** Malformed entries are left out: the dashboard shows what it can read. */
export function decodeEntries(entries: RawEntry[]): TimedEvent[] {
  const out: TimedEvent[] = [];
  for (const [id, fields] of entries) {
    // A batched entry's events share its time; their order inside it is the ledger's.
    const at = entryTime(id);
    for (const event of eventCodec.items(fields)) out.push({ at, event });
  }
  return out;
}

/**
 * Entries newest first, as XREVRANGE returns them. `cap` is how many were asked for: a
 * full read means older entries of the window were left out.
 */
export function foldWindow(entries: RawEntry[], opts: { from: number; to: number; cap: number }): LedgerWindow & { timed: TimedEvent[] } {
  const timed = decodeEntries(entries);
  const byId = new Map<string, Fold>();
  for (const { at, event } of timed) {
    // evolve is order-free, so entries newest first fold to what the projector stores.
    const fold = byId.get(event.notificationId);
    if (!fold) byId.set(event.notificationId, { doc: evolve(null, event), updatedAt: at });
    else {
      fold.doc = evolve(fold.doc, event);
      fold.updatedAt = Math.max(fold.updatedAt, at);
    }
  }
  const truncated = entries.length >= opts.cap;
  return {
    from: truncated && entries.length > 0 ? entryTime(entries[entries.length - 1]![0]) : opts.from,
    to: opts.to,
    events: timed.length,
    truncated,
    // Map order is first-seen order, and entries come newest first.
    notifications: [...byId.values()].map(summary),
    timed,
  };
}

function summary({ doc: d, updatedAt }: Fold): WindowNotification {
  return {
    notificationId: d._id,
    ...(d.recipientId !== undefined && { recipientId: d.recipientId }),
    ...(d.title !== undefined && { title: d.title }),
    ...(d.acceptedAt !== undefined && { acceptedAt: d.acceptedAt }),
    status: d.status,
    ...(d.reason !== undefined && { reason: d.reason }),
    updatedAt,
  };
}

export interface Counts {
  byStatus: Record<Status, number>;
  byReason: Record<FailureReason, number>;
}

export function countStatuses(notifications: WindowNotification[]): Counts {
  const byStatus = Object.fromEntries(statuses.map((s) => [s, 0])) as Record<Status, number>;
  const byReason = Object.fromEntries(failureReasons.map((r) => [r, 0])) as Record<FailureReason, number>;
  for (const n of notifications) {
    byStatus[n.status]++;
    if (n.reason) byReason[n.reason]++;
  }
  return { byStatus, byReason };
}

/** Events per second from `from` to `to`, every second present (zeros included) for the chart. */
export function throughput(events: TimedEvent[], from: number, to: number): ThroughputPoint[] {
  const first = Math.floor(from / 1000);
  const last = Math.floor(to / 1000);
  const points: ThroughputPoint[] = [];
  for (let s = first; s <= last; s++) points.push({ t: s * 1000, accepted: 0, delivered: 0, failed: 0, acknowledged: 0 });
  for (const { at, event } of events) {
    const point = points[Math.floor(at / 1000) - first];
    if (!point) continue;
    if (event.type === 'notification.accepted') point.accepted++;
    else if (event.type === 'notification.delivered') point.delivered++;
    else if (event.type === 'notification.failed') point.failed++;
    else if (event.type === 'notification.acknowledged') point.acknowledged++;
  }
  return points;
}
