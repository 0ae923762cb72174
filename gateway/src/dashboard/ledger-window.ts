import { eventCodec, failureReasons, statuses, type FailureReason, type LedgerEvent, type Status } from '@pushflow/shared';

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

export function entryTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

interface Fold {
  notificationId: string;
  recipientId?: string;
  title?: string;
  acceptedAt?: number;
  dispatchedTo: Set<string>;
  dispatched: boolean;
  delivered: boolean;
  acknowledged: boolean;
  /** Failures by node ('' for a failure no node reported: nobody online at routing). */
  failures: Map<string, { reason: FailureReason; at: number }>;
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
    const event = eventCodec.decode(fields);
    if (event) out.push({ at: entryTime(id), event });
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
    const fold = byId.get(event.notificationId) ?? newFold(event.notificationId);
    byId.set(event.notificationId, fold);
    apply(fold, event, at);
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

function newFold(notificationId: string): Fold {
  return { notificationId, dispatchedTo: new Set(), dispatched: false, delivered: false, acknowledged: false, failures: new Map(), updatedAt: 0 };
}

function apply(fold: Fold, event: LedgerEvent, at: number): void {
  fold.updatedAt = Math.max(fold.updatedAt, at);
  switch (event.type) {
    case 'notification.accepted':
      fold.acceptedAt = event.at;
      fold.recipientId = event.recipientId;
      if (event.title !== undefined) fold.title = event.title;
      break;
    case 'notification.dispatched':
      fold.dispatched = true;
      for (const n of event.nodeIds) fold.dispatchedTo.add(n);
      break;
    case 'notification.delivered':
      fold.delivered = true;
      break;
    case 'notification.failed':
      fold.failures.set(event.nodeId ?? '', { reason: event.reason, at: event.at });
      break;
    case 'notification.acknowledged':
      fold.acknowledged = true;
      break;
  }
}

/** The status store's precedence (dispatcher/src/projection.ts): acked, delivered, all failed, dispatched, accepted. */
function summary(f: Fold): WindowNotification {
  const base = {
    notificationId: f.notificationId,
    ...(f.recipientId !== undefined && { recipientId: f.recipientId }),
    ...(f.title !== undefined && { title: f.title }),
    ...(f.acceptedAt !== undefined && { acceptedAt: f.acceptedAt }),
    updatedAt: f.updatedAt,
  };
  if (f.acknowledged) return { ...base, status: 'ACKNOWLEDGED' };
  if (f.delivered) return { ...base, status: 'DELIVERED' };
  const failed = failure(f);
  if (failed) return { ...base, status: 'FAILED', reason: failed };
  return { ...base, status: f.dispatched ? 'DISPATCHED' : 'ACCEPTED' };
}

function failure(f: Fold): FailureReason | undefined {
  if (f.dispatchedTo.size > 0) {
    const nodes = [...f.dispatchedTo];
    if (!nodes.every((n) => f.failures.has(n))) return undefined;
    return nodes.map((n) => f.failures.get(n)!).reduce((a, b) => (b.at > a.at ? b : a)).reason;
  }
  return f.dispatched ? undefined : f.failures.get('')?.reason;
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
