import type { LedgerEvent } from './events.ts';
import type { NotificationStatus } from './messages.ts';
import { addContent, type FailureReason, type Status } from './schemas.ts';

/**
 * The status document is a pure function of the ledger: `evolve(doc, event)` folds one
 * event into it. Events are facts kept by identity (one accepted, one dispatch per node
 * set, one outcome per node, the first ack), so applying an event twice, or in any order,
 * gives the same document, and replaying the ledger into an empty collection gives the
 * documents the live projection built. `evolve` returns the same object when the event
 * changes nothing, which is how callers skip writes.
 */
export interface Outcome {
  nodeId: string;
  status: 'DELIVERED' | 'FAILED';
  at: number;
  reason?: FailureReason;
  connections?: number;
}

export interface HistoryItem {
  status: Status;
  at: number;
  nodeId?: string;
  reason?: FailureReason;
}

export interface NotificationDoc {
  _id: string;
  commandId?: string;
  /** Of the request that made it, when it came with an Idempotency-Key. */
  requestHash?: string;
  recipientId?: string;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  acceptedAt?: number;
  dispatchedAt?: number;
  dispatchedTo?: string[];
  outcomes: Outcome[];
  /** A failure no node reported: nobody was online when it was routed. */
  unrouted?: { at: number; reason: FailureReason };
  acknowledged?: { at: number; nodeId?: string };
  status: Status;
  reason?: FailureReason;
  updatedAt: number;
  /**
   * `updatedAt` as a Date, for the status TTL index (store.ts). Derived like every other
   * field, so the accept path, the projector and a replay all write the same value.
   */
  expiresFrom?: Date;
  // No history: historyOf derives it from the facts when a status is read. Stored, it was a
  // third of the document, and the MongoDB stand-in's CPU and the BSON encoding grow with it.
}

export function emptyDoc(notificationId: string): NotificationDoc {
  return { _id: notificationId, outcomes: [], status: 'ACCEPTED', updatedAt: 0 };
}

export function evolve(current: NotificationDoc | null, event: LedgerEvent): NotificationDoc {
  const doc = current ?? emptyDoc(event.notificationId);
  const facts = applyFact(doc, event);
  return facts === doc && current ? current : derive(facts);
}

/**
 * `events.reduce(evolve, current)`, deriving the status and history once at the end
 * instead of after every event: the facts are order-free, so the result is the same.
 */
export function evolveAll(current: NotificationDoc | null, events: readonly LedgerEvent[]): NotificationDoc | null {
  if (events.length === 0) return current;
  let facts = current ?? emptyDoc(events[0]!.notificationId);
  for (const e of events) facts = applyFact(facts, e);
  return facts === current ? current : derive(facts);
}

function applyFact(doc: NotificationDoc, e: LedgerEvent): NotificationDoc {
  switch (e.type) {
    case 'notification.accepted': {
      if (doc.acceptedAt !== undefined && doc.acceptedAt <= e.at) return doc;
      // Assigned one by one rather than spread in conditionally: this runs for every
      // notification, and conditional spreads take V8's slow path.
      const next: NotificationDoc = { ...doc, commandId: e.commandId, recipientId: e.recipientId, acceptedAt: e.at };
      if (e.requestHash !== undefined) next.requestHash = e.requestHash;
      return addContent(next, e);
    }
    case 'notification.dispatched': {
      const nodes = [...new Set([...(doc.dispatchedTo ?? []), ...e.nodeIds])].sort();
      const at = Math.min(doc.dispatchedAt ?? e.at, e.at);
      if (at === doc.dispatchedAt && nodes.length === doc.dispatchedTo?.length) return doc;
      return { ...doc, dispatchedTo: nodes, dispatchedAt: at };
    }
    case 'notification.delivered':
      return withOutcome(doc, { nodeId: e.nodeId, status: 'DELIVERED', at: e.at, connections: e.connections });
    case 'notification.failed': {
      if (e.nodeId !== undefined) return withOutcome(doc, { nodeId: e.nodeId, status: 'FAILED', at: e.at, reason: e.reason });
      if (doc.unrouted && doc.unrouted.at <= e.at) return doc;
      return { ...doc, unrouted: { at: e.at, reason: e.reason } };
    }
    case 'notification.acknowledged': {
      if (doc.acknowledged && doc.acknowledged.at <= e.at) return doc;
      return { ...doc, acknowledged: { at: e.at, ...(e.nodeId !== undefined && { nodeId: e.nodeId }) } };
    }
  }
}

/** One outcome per node; DELIVERED beats FAILED, then the earlier report wins. */
function withOutcome(doc: NotificationDoc, next: Outcome): NotificationDoc {
  const existing = doc.outcomes.find((o) => o.nodeId === next.nodeId);
  if (existing && !outcomeBeats(next, existing)) return doc;
  const outcomes = doc.outcomes.filter((o) => o.nodeId !== next.nodeId);
  outcomes.push(next);
  outcomes.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  return { ...doc, outcomes };
}

function outcomeBeats(a: Outcome, b: Outcome): boolean {
  if (a.status !== b.status) return a.status === 'DELIVERED';
  return a.at < b.at;
}

const rank: Record<Status, number> = { ACCEPTED: 0, DISPATCHED: 1, DELIVERED: 2, FAILED: 2, ACKNOWLEDGED: 3 };

/** Status precedence: acked > any node delivered > every dispatched node failed > dispatched > accepted. */
export function deriveStatus(doc: NotificationDoc): { status: Status; reason?: FailureReason } {
  if (doc.acknowledged) return { status: 'ACKNOWLEDGED' };
  if (doc.outcomes.some((o) => o.status === 'DELIVERED')) return { status: 'DELIVERED' };
  const targets = doc.dispatchedTo;
  if (targets && targets.length > 0) {
    const failures = doc.outcomes.filter((o) => o.status === 'FAILED' && targets.includes(o.nodeId));
    if (failures.length === targets.length) {
      const last = failures.reduce((a, b) => (b.at > a.at || (b.at === a.at && b.nodeId > a.nodeId) ? b : a));
      return { status: 'FAILED', ...(last.reason && { reason: last.reason }) };
    }
    return { status: 'DISPATCHED' };
  }
  if (doc.unrouted) return { status: 'FAILED', reason: doc.unrouted.reason };
  // An outcome can arrive before the dispatch that caused it; it still proves a dispatch.
  if (doc.outcomes.length > 0) return { status: 'DISPATCHED' };
  return { status: 'ACCEPTED' };
}

function derive(doc: NotificationDoc): NotificationDoc {
  const { status, reason } = deriveStatus(doc);
  // The latest fact's time, as historyOf would sort it, without building the history.
  let updatedAt = Math.max(doc.acceptedAt ?? 0, doc.dispatchedAt ?? 0, doc.unrouted?.at ?? 0, doc.acknowledged?.at ?? 0);
  for (const o of doc.outcomes) if (o.at > updatedAt) updatedAt = o.at;
  const next: NotificationDoc = { ...doc, status, updatedAt, expiresFrom: new Date(updatedAt) };
  // A status that lost its reason (a FAILED node's outcome beaten by a delivery) drops it.
  if (reason) next.reason = reason;
  else if (next.reason !== undefined) delete next.reason;
  // Documents written before history was derived on read still hold one: the next write drops it.
  if ('history' in next) delete (next as { history?: unknown }).history;
  return next;
}

/** Every step the facts record, sorted by time: what a status read shows as `history`. */
export function historyOf(doc: NotificationDoc): HistoryItem[] {
  const history: HistoryItem[] = [];
  if (doc.acceptedAt !== undefined) history.push({ status: 'ACCEPTED', at: doc.acceptedAt });
  if (doc.dispatchedAt !== undefined) history.push({ status: 'DISPATCHED', at: doc.dispatchedAt });
  if (doc.unrouted) history.push({ status: 'FAILED', at: doc.unrouted.at, reason: doc.unrouted.reason });
  for (const o of doc.outcomes) {
    const item: HistoryItem = { status: o.status, at: o.at, nodeId: o.nodeId };
    if (o.reason) item.reason = o.reason;
    history.push(item);
  }
  if (doc.acknowledged) {
    const item: HistoryItem = { status: 'ACKNOWLEDGED', at: doc.acknowledged.at };
    if (doc.acknowledged.nodeId) item.nodeId = doc.acknowledged.nodeId;
    history.push(item);
  }
  return history.sort(byTime);
}

function byTime(a: HistoryItem, b: HistoryItem): number {
  return a.at - b.at || rank[a.status] - rank[b.status] || (a.nodeId ?? '').localeCompare(b.nodeId ?? '');
}

/** The public shape (docs/api.md, "HTTP API": GET /notifications/:id/status); undefined until accepted. */
export function toStatusView(doc: NotificationDoc): NotificationStatus | undefined {
  if (doc.acceptedAt === undefined || doc.recipientId === undefined) return undefined;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    notificationId: doc._id,
    recipientId: doc.recipientId,
    status: doc.status,
    ...(doc.reason && { reason: doc.reason }),
    acceptedAt: iso(doc.acceptedAt),
    updatedAt: iso(doc.updatedAt),
    history: historyOf(doc).map((h) => ({
      status: h.status,
      at: iso(h.at),
      ...(h.nodeId !== undefined && { nodeId: h.nodeId }),
      ...(h.reason !== undefined && { reason: h.reason }),
    })),
  };
}
