import { hash } from 'node:crypto';
import { BATCH_FIELD, DATA_FIELD, WEBHOOK_EVENT_TYPES, type StreamEntry, type WebhookPayload } from '@pushflow/shared';

/**
 * From ledger entries to webhook messages. The relay reads every event of the ledger, so
 * this parses entries itself with no schema check (the projector validates and
 * dead-letters what is malformed; here a malformed event is only skipped), and names each
 * message after the fact it reports: the same event read twice, from a redelivered entry
 * or a command handled twice, is the same message with the same `webhook-id`.
 */
export interface RelayEvent {
  type: string;
  notificationId: string;
  at: number;
  recipientId?: string;
  nodeId?: string;
  reason?: string;
}

const relayed = new Set<string>(WEBHOOK_EVENT_TYPES);

const STATUS: Record<string, string> = {
  'notification.accepted': 'ACCEPTED',
  'notification.dispatched': 'DISPATCHED',
  'notification.delivered': 'DELIVERED',
  'notification.acknowledged': 'ACKNOWLEDGED',
  'notification.failed': 'FAILED',
};

/** Every well-formed ledger event of the entries, in ledger order. */
export function eventsOf(entries: readonly StreamEntry[]): RelayEvent[] {
  const events: RelayEvent[] = [];
  for (const entry of entries) {
    const f = entry.fields;
    for (let i = 0; i + 1 < f.length; i += 2) {
      if (f[i] !== BATCH_FIELD && f[i] !== DATA_FIELD) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(f[i + 1]!);
      } catch {
        continue;
      }
      for (const item of f[i] === BATCH_FIELD && Array.isArray(parsed) ? parsed : [parsed]) {
        const e = item as Partial<RelayEvent> | null;
        if (e && typeof e.type === 'string' && relayed.has(e.type) && typeof e.notificationId === 'string' && typeof e.at === 'number') {
          events.push(e as RelayEvent);
        }
      }
    }
  }
  return events;
}

/** The webhook-id of the message reporting this event: `msg_` and a hash of the fact. */
export function messageIdOf(e: RelayEvent): string {
  const fact = `${e.type}|${e.notificationId}|${e.nodeId ?? ''}|${e.reason ?? ''}`;
  return `msg_${hash('sha256', fact, 'base64url').slice(0, 27)}`;
}

export function payloadOf(e: RelayEvent, recipientId: string | undefined): WebhookPayload {
  const at = new Date(e.at).toISOString();
  return {
    type: e.type as WebhookPayload['type'],
    timestamp: at,
    data: {
      notificationId: e.notificationId,
      ...(recipientId !== undefined && { recipientId }),
      status: STATUS[e.type]!,
      ...(e.reason !== undefined && { reason: e.reason }),
      ...(e.nodeId !== undefined && { nodeId: e.nodeId }),
      at,
    },
  };
}

/**
 * Recipients of the notifications accepted lately: only `accepted` carries the recipient,
 * and the outcomes that follow it are on the same partition, read by the same relay
 * moments later. Bounded; what it has forgotten is looked up (relay.ts).
 */
export function createRecipientMemory(capacity = 100_000) {
  const byId = new Map<string, string>();
  return {
    remember(notificationId: string, recipientId: string) {
      if (byId.size >= capacity) byId.delete(byId.keys().next().value!);
      byId.set(notificationId, recipientId);
    },
    recall: (notificationId: string) => byId.get(notificationId),
  };
}
