import type { WebSocket } from 'uWebSockets.js';

/** What a delivery node keeps per WebSocket (uWS userData). */
export interface SocketData {
  recipientId: string;
  /** A refused token: the socket is upgraded only so it can be closed with this code. */
  refused?: { code: number; reason: string };
  /** Set in the close handler: uWS throws on any use of a closed socket. */
  closed: boolean;
  /** Notification ids sent on this socket and not yet acked, oldest first. */
  sent: Set<string>;
}

export type ClientSocket = WebSocket<SocketData>;

/** Enough to ack every frame of a burst; an ack older than this is ignored. */
export const SENT_IDS_KEPT = 1000;

export function acceptedSocket(recipientId: string): SocketData {
  return { recipientId, closed: false, sent: new Set() };
}

export function refusedSocket(code: number, reason: string): SocketData {
  return { recipientId: '', refused: { code, reason }, closed: false, sent: new Set() };
}

export function rememberSent(data: SocketData, notificationId: string): void {
  data.sent.delete(notificationId); // re-insert at the young end
  data.sent.add(notificationId);
  if (data.sent.size > SENT_IDS_KEPT) {
    const oldest = data.sent.values().next().value;
    if (oldest !== undefined) data.sent.delete(oldest);
  }
}

/** True once per id the socket was sent: a client may only ack its own notifications, once. */
export function takeSent(data: SocketData, notificationId: string): boolean {
  return data.sent.delete(notificationId);
}
