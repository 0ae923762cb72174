import type { DeliveryRequest, LedgerEvent } from '@pushflow/shared';

/**
 * What became of one notification on this node (docs/design.md, "Delivered means drained").
 * A frame counts only once it left the node for the kernel: `waiting` sockets still hold it
 * in uWS's buffer, and the outcome is settled once none does.
 */
export interface Outcome {
  request: DeliveryRequest;
  /** The stream entry it came in: acked once every outcome of that entry is settled. */
  entryId: string;
  hadSockets: boolean;
  /** Sockets whose frame drained to the kernel. */
  sentTo: number;
  /** Sockets holding the frame in uWS's buffer still. */
  waiting: number;
  /** Sockets that closed, or were dropped, holding it: the frame was thrown away. */
  lost: number;
}

export function newOutcome(request: DeliveryRequest, entryId: string, hadSockets: boolean): Outcome {
  return { request, entryId, hadSockets, sentTo: 0, waiting: 0, lost: 0 };
}

export function isSettled(o: Outcome): boolean {
  return o.waiting === 0;
}

/**
 * The ledger event of a settled outcome. One socket that took the frame is enough; without
 * one, the most telling reason wins: a frame thrown away with its socket (CONNECTION_LOST),
 * sockets with no room for it (BACKPRESSURE), or no socket at all (RECIPIENT_OFFLINE).
 */
export function outcomeEvent(o: Outcome, at: number, nodeId: string): LedgerEvent {
  const notificationId = o.request.notificationId;
  if (o.sentTo > 0) return { type: 'notification.delivered', notificationId, at, nodeId, connections: o.sentTo };
  const reason = o.lost > 0 ? 'CONNECTION_LOST' : o.hadSockets ? 'BACKPRESSURE' : 'RECIPIENT_OFFLINE';
  return { type: 'notification.failed', notificationId, at, nodeId, reason };
}
