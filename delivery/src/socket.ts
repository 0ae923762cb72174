import type { WebSocket } from 'uWebSockets.js';
import { fullBudget, type MessageBudget } from './message-rate.ts';
import { emptyFrames, type SocketFrames } from './socket-frames.ts';

/** What a delivery node keeps per WebSocket (uWS userData). */
export interface SocketData {
  /** Set once the token was verified and the socket accepted; '' before. */
  recipientId: string;
  /** Held from the upgrade until `open` takes it for verification, then dropped. */
  token?: string;
  /** Verified and within the limits: in the node's connections, presence and expiry. */
  accepted: boolean;
  /** Frames the client sent before its token was verified, handled once it is. */
  early?: { message: ArrayBuffer; isBinary: boolean }[];
  /** A refused token or a limit: the socket is upgraded only so it can be closed with this code. */
  refused?: { code: number; reason: string };
  /** Set in the close handler: uWS throws on any use of a closed socket. */
  closed: boolean;
  /** Notification ids sent on this socket and not yet acked, oldest first. */
  sent: Set<string>;
  /** When the token stops being accepted (exp plus the clock skew), in ms. */
  deadlineMs: number;
  /** The token-expiry bucket holding this socket, once open. */
  expiryBucket?: number;
  /** Client frames it may still send (PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND). */
  messages: MessageBudget;
  /** Notification frames handed to uWS that may not have left for the kernel yet. */
  frames: SocketFrames;
  /**
   * Being closed by the node once it has sent what it holds (socket-handlers.ts,
   * closeWhenDrained): it takes no new frames, and is dropped if it does not drain in time.
   */
  closing?: { code: number; reason: string; timer: NodeJS.Timeout };
  /** Out of the node's connections and presence: set once, by whichever comes first, closing or close. */
  released: boolean;
}

export type ClientSocket = WebSocket<SocketData>;

/** Enough to ack every frame of a burst; an ack older than this is ignored. */
export const SENT_IDS_KEPT = 1000;

/** A socket just upgraded: its token is verified once it is open (socket-handlers.ts). */
export function pendingSocket(token: string): SocketData {
  return {
    recipientId: '',
    token,
    accepted: false,
    closed: false,
    sent: new Set(),
    deadlineMs: 0,
    messages: fullBudget(0, 0),
    frames: emptyFrames(),
    released: true,
  };
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
