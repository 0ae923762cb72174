import { ackPacer } from './ack-pacer.ts';
import { BACKOFF_DEFAULTS, backoffDelay, type BackoffOptions } from './backoff.ts';
import { closeAction } from './close-policy.ts';
import { PushFlowError, type PushFlowErrorCode } from './errors.ts';
import { eventIterator } from './iterator.ts';
import { recentIds } from './recent-ids.ts';
import { socketUrl } from './socket-url.ts';

/** A notification as the node pushed it (docs/api.md, "WebSocket protocol"). */
export interface PushNotification {
  notificationId: string;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  /** When the gateway accepted it, ISO 8601. */
  acceptedAt: string;
}

/** `connecting` (a socket or a token is on its way), `open`, `closed` (see `retryInMs`). */
export type ConnectionState = 'connecting' | 'open' | 'closed';

/** The detail of a `state` event. */
export interface StateChange {
  state: ConnectionState;
  /**
   * Which retry this is (`connecting`) or comes next (`closed`): 1 for the first retry since the
   * last connection that lasted (`backoff.stableMs`), 0 for the first connect. Retry n waits up
   * to `initialMs` × 2^(n-1), at most `maxMs`.
   */
  attempt: number;
  /** `closed`: the WebSocket close code (1000 after `close()`; 1006 when the connection was lost or never made). */
  code?: number;
  /** `closed`: the close reason the node gave, or what happened. */
  reason?: string;
  /** `closed`: how long until the next try, in ms. Absent when the client has stopped for good. */
  retryInMs?: number;
  /** `closed` for good because of an error (also sent as an `error` event before this one). */
  error?: PushFlowError;
}

/** The events a client dispatches, each a CustomEvent whose `detail` is the value. */
export interface PushFlowEventMap {
  notification: CustomEvent<PushNotification>;
  state: CustomEvent<StateChange>;
  error: CustomEvent<PushFlowError>;
}

/** The part of a WebSocket the client uses: a browser's, Node 22+'s global, or `ws`'s. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `WebSocket` from the `ws` package on Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A fresh connect token from your backend, or nothing (undefined, null or '') to stop. */
export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

/** What `connect()` takes: where, with which token, and how to behave. Only `url` and a token source are required. */
export interface ConnectOptions {
  /** The delivery node: its base URL (`wss://push.example.com`, `http://localhost:8080`) or its `/ws` endpoint. */
  url: string;
  /** A connect token. Without it, `getToken` gives the first one. */
  token?: string;
  /**
   * Called for a new token when the node refuses the current one (close 4001 invalid, 4003
   * expired), and for the first one when there is no `token`. Return nothing to stop the
   * client; a throw or rejection is retried with backoff.
   */
  getToken?: TokenSource;
  /** Ack each notification once the `notification` event has run (default false). */
  autoAck?: boolean;
  /** The WebSocket class; `globalThis.WebSocket` by default. On Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** The reconnect backoff. */
  backoff?: BackoffOptions;
  /** The most acks sent a second (default 40, under the node's default limit of 50 frames a second; close 4008 above it). */
  acksPerSecond?: number;
  /** How many recent notification ids are remembered to drop repeats (default 1000). */
  dedupeLimit?: number;
}

/**
 * A connection to a delivery node that reconnects by itself. An EventTarget: listen for
 * `notification`, `state` and `error` (see PushFlowEventMap), or iterate it with
 * `for await (const n of client)`.
 */
export interface PushFlowClient extends EventTarget {
  /** The state of the last `state` event. */
  readonly state: ConnectionState;
  /**
   * Acks a notification: its status becomes ACKNOWLEDGED. True when the ack is sent (or
   * queued, see `acksPerSecond`); false when the socket is not open or the notification came
   * on an earlier connection (the node takes acks only on the socket that got the notification).
   */
  ack(notificationId: string): boolean;
  /** Closes the connection and stops reconnecting; queued acks are sent first. */
  close(): void;
  /** Yields each notification from now on; ends after `close()`, throws the error that stopped the client. */
  [Symbol.asyncIterator](): AsyncIterableIterator<PushNotification>;
  addEventListener<K extends keyof PushFlowEventMap>(
    type: K,
    listener: (event: PushFlowEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof PushFlowEventMap>(
    type: K,
    listener: (event: PushFlowEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

const OPEN = 1;

/**
 * Connects to a delivery node and stays connected: reconnects with full-jitter exponential
 * backoff, fetches a fresh token on 4001/4003 (with `getToken`), drops repeated
 * notifications, and stops for good on closes a retry cannot fix (1003, 1009, 4009).
 * Throws a PushFlowError (`BAD_OPTIONS`, `NO_WEBSOCKET`) when it cannot start at all.
 *
 * @example
 * const client = connect({ url: 'wss://push.example.com', getToken: fetchConnectToken, autoAck: true });
 * client.addEventListener('notification', (e) => show(e.detail));
 */
export function connect(options: ConnectOptions): PushFlowClient {
  const { url, getToken, autoAck = false, acksPerSecond = 40, dedupeLimit = 1000 } = options;
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass) {
    throw new PushFlowError('NO_WEBSOCKET', 'no global WebSocket (Node 20?): pass WebSocket from the ws package in the options', {
      fatal: true,
    });
  }
  const WS: WebSocketConstructor = WebSocketClass;
  const bad = (why: string) => new PushFlowError('BAD_OPTIONS', why, { fatal: true });
  if (typeof url !== 'string' || url === '') throw bad('connect: url is required');
  try {
    socketUrl(url, ''); // a bad URL fails here, not at the first reconnect
  } catch (err) {
    throw bad(`connect: ${(err as Error).message}`);
  }
  if (!options.token && !getToken) throw bad('connect: token or getToken is required');
  if (!(acksPerSecond > 0) || !(dedupeLimit >= 1)) throw bad('connect: acksPerSecond must be above 0 and dedupeLimit at least 1');
  const backoff = { ...BACKOFF_DEFAULTS, ...options.backoff };

  const target = new EventTarget() as PushFlowClient;
  const emit = <K extends keyof PushFlowEventMap>(type: K, detail: PushFlowEventMap[K]['detail']) =>
    target.dispatchEvent(new CustomEvent(type, { detail }));

  let token = options.token || undefined;
  // Why a new token is needed (the close that refused the old one), to stop with when getToken gives none.
  let refused: { error: PushFlowErrorCode; code?: number; reason?: string } = { error: 'NO_TOKEN' };
  let state: ConnectionState = 'connecting';
  let socket: WebSocketLike | undefined;
  let connection = 0;
  let attempt = 0;
  let openedAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended: { error?: PushFlowError } | undefined;
  const recent = recentIds(dedupeLimit);
  const pacer = ackPacer(acksPerSecond, (frame) => socket?.send(frame));

  const setState = (change: StateChange) => {
    state = change.state;
    emit('state', change);
  };

  function retry(code: number, reason: string): void {
    const delay = backoffDelay(attempt, backoff);
    attempt++;
    setState({ state: 'closed', attempt, code, reason, retryInMs: delay });
    timer = setTimeout(dial, delay);
  }

  function stop(error: PushFlowError, code: number | undefined, reason: string): void {
    ended = { error };
    emit('error', error);
    setState({ state: 'closed', attempt, code, reason, error });
  }

  async function dial(): Promise<void> {
    timer = undefined;
    if (ended) return;
    setState({ state: 'connecting', attempt });
    if (token === undefined) {
      let fresh: string | null | undefined;
      try {
        fresh = await getToken?.();
      } catch (cause) {
        if (ended) return;
        emit('error', new PushFlowError('TOKEN_FETCH_FAILED', `getToken failed: ${String(cause)}`, { fatal: false, cause }));
        retry(1006, 'getToken failed');
        return;
      }
      if (ended) return;
      if (!fresh) {
        const { error, code, reason = '' } = refused;
        stop(new PushFlowError(error, describe(error, code, reason, 'getToken gave none'), { closeCode: code, fatal: true }), code, reason);
        return;
      }
      token = fresh;
    }
    open(token);
  }

  function open(withToken: string): void {
    let ws: WebSocketLike;
    try {
      ws = new WS(socketUrl(url, withToken));
    } catch (err) {
      // A browser refuses some URLs at once (ws:// from an https page): like a failed connection.
      retry(1006, String(err));
      return;
    }
    const id = ++connection;
    socket = ws;
    ws.addEventListener('open', () => {
      if (ws !== socket) return;
      openedAt = Date.now();
      setState({ state: 'open', attempt });
    });
    ws.addEventListener('message', (event) => {
      if (ws === socket) receive(event.data, id);
    });
    // `error` always comes with a `close`, which carries the code: everything is decided there.
    // A refused upgrade (HTTP 403 for a page from an origin the node does not allow) shows
    // only as 1006, like a network failure.
    ws.addEventListener('error', () => {});
    ws.addEventListener('close', (event) => {
      if (ws === socket) closed(event.code, event.reason);
    });
  }

  function receive(data: unknown, id: number): void {
    let frame: { type?: unknown; notificationId?: unknown } | null;
    try {
      frame = typeof data === 'string' ? JSON.parse(data) : null;
    } catch {
      frame = null;
    }
    // Frames are typed; skip what this client does not know, so the server can add types.
    if (frame?.type !== 'notification' || typeof frame.notificationId !== 'string') return;
    const notificationId = frame.notificationId;
    const seen = recent.get(notificationId);
    if (seen) {
      // A repeat (delivery is at least once): not shown again, but acked again if the first
      // was, so that this delivery too is acknowledged.
      seen.connection = id;
      if (seen.acked) sendAck(notificationId);
      return;
    }
    recent.add(notificationId, id);
    const { type: _type, ...notification } = frame;
    emit('notification', notification as PushNotification);
    if (autoAck) target.ack(notificationId);
  }

  function sendAck(notificationId: string): void {
    pacer.push(JSON.stringify({ type: 'ack', notificationId }));
  }

  function closed(code: number, reason: string): void {
    socket = undefined;
    pacer.clear();
    if (openedAt && Date.now() - openedAt >= backoff.stableMs) attempt = 0;
    openedAt = 0;
    const policy = closeAction(code);
    if (policy.action === 'stop' || (policy.action === 'refresh' && !getToken)) {
      stop(new PushFlowError(policy.error, describe(policy.error, code, reason), { closeCode: code, fatal: true }), code, reason);
      return;
    }
    if (policy.action === 'refresh') {
      token = undefined;
      refused = { error: policy.error, code, reason };
    } else if (policy.error) {
      emit('error', new PushFlowError(policy.error, describe(policy.error, code, reason), { closeCode: code, fatal: false }));
    }
    retry(code, reason);
  }

  Object.defineProperty(target, 'state', { get: () => state, enumerable: true });
  Object.assign(target, {
    ack(notificationId: string): boolean {
      const seen = recent.get(notificationId);
      if (!socket || socket.readyState !== OPEN || seen?.connection !== connection) return false;
      seen.acked = true;
      sendAck(notificationId);
      return true;
    },
    close(): void {
      if (ended) return;
      ended = {};
      clearTimeout(timer);
      // Queued acks go out before the close frame: a socket sends what it buffered before closing.
      if (socket?.readyState === OPEN) pacer.drain();
      pacer.clear();
      const ws = socket;
      socket = undefined;
      ws?.close(1000, 'closed by the application');
      setState({ state: 'closed', attempt, code: 1000, reason: 'closed by the application' });
    },
    [Symbol.asyncIterator]: () => eventIterator<PushNotification>(target, 'notification', () => ended, 'state'),
  });
  // After the caller had the client and could add listeners: the first events are not lost.
  queueMicrotask(dial);
  return target;
}

const WHAT: Partial<Record<PushFlowErrorCode, string>> = {
  NO_TOKEN: 'there was no token',
  TOKEN_INVALID: 'the node refused the token',
  TOKEN_EXPIRED: 'the token expired',
  UNSUPPORTED_DATA: 'the node got a binary frame',
  MESSAGE_TOO_BIG: 'the node got a frame over its size limit',
  TOO_MANY_CONNECTIONS: 'this user holds the most sockets the node allows: close the others',
  TOO_MANY_MESSAGES: 'the client sent frames faster than the node allows: reconnecting after a pause',
};

/** The message of an error: what happened, the close that said so, and what came of it. */
function describe(error: PushFlowErrorCode, code: number | undefined, reason: string, then?: string): string {
  const close = code === undefined ? '' : ` (close ${code}${reason ? ` ${reason}` : ''})`;
  return `${WHAT[error] ?? error}${close}${then ? `, and ${then}` : ''}`;
}
