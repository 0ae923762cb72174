import type * as UWS from 'uWebSockets.js';
import uWS from '@pushflow/shared/uws';
import { RecipientId, verifyConnectToken, type ConnectKeys, type Logger } from '@pushflow/shared';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { AckRecorder } from './acks.ts';
import { parseClientFrame } from './client-frames.ts';
import { CLOSE } from './close-codes.ts';
import { addConnection, allSockets, removeConnection, socketsOf, type Connections } from './connections.ts';
import type { HeldEntries } from './held-entries.ts';
import { spendMessage } from './message-rate.ts';
import { createOriginPolicy } from './origins.ts';
import type { Presence } from './presence.ts';
import { fullBudget } from './message-rate.ts';
import { pendingSocket, type ClientSocket, type SocketData } from './socket.ts';
import { createExpiryBuckets } from './token-expiry.ts';

/**
 * The `/ws` endpoint's handlers (docs/api.md, "WebSocket protocol"): the upgrade's checks,
 * then each socket's life from open to close. Kept apart from the HTTP routes
 * (http-routes.ts), which share nothing with them: these own the node's socket state (the
 * open count, token expiry, the counters), which server.ts only reads, starts and closes.
 */
export interface SocketOptions {
  /** What connect tokens are verified with (connect-keys.ts). */
  connectKeys: ConnectKeys;
  /** When set, tokens must carry it in `aud`. */
  tokenAudience?: string;
  clockSkewSeconds: number;
  /** A token whose `exp` lies further ahead than this (plus the skew) is refused. */
  maxTokenTtlSeconds: number;
  /** A token whose `sub` is longer is refused: the API would never send it anything. */
  maxRecipientIdLength: number;
  /** PUSHFLOW_ALLOWED_ORIGINS. */
  allowedOrigins: string;
  maxConnections: number;
  maxConnectionsPerRecipient: number;
  maxClientMessagesPerSecond: number;
  /** Client frames above this close the socket with 1009. */
  maxFrameBytes: number;
  maxBackpressureBytes: number;
  /**
   * How long a socket the node closes (4010, 4003) may take to read the frames it holds
   * before its close frame; then the connection is dropped and those frames are lost.
   */
  closeTimeoutSeconds: number;
  /** Seconds without traffic before uWS drops a socket; it pings well before that. */
  idleTimeoutSeconds?: number;
  connections: Connections;
  held: HeldEntries;
  presence: Presence;
  acks: AckRecorder;
  log: Logger;
}

export interface ServerStats {
  opened: number;
  refused: number;
  invalidFrames: number;
  oversizeFrames: number;
  binaryFrames: number;
  tooManyMessages: number;
  originRefused: number;
  expired: number;
  /** Sockets the node closed that did not read what they held within the close timeout. */
  closeTimeouts: number;
}

export interface SocketHandlers {
  /** For `app.ws('/ws', ...)`. */
  behavior: UWS.WebSocketBehavior<SocketData>;
  stats: ServerStats;
  /** Open, accepted sockets on this node. */
  openConnections(): number;
  /**
   * Starts closing sockets whose token has run out, and the sweep that settles frames
   * drained without a drain event; returns what stops both.
   */
  startSweeps(): () => void;
  /** Closes every open socket with this code. */
  closeAll(code: number, reason: string): void;
  /**
   * Closes a socket once uWS has sent what it holds, so the client reads every frame
   * counted for it and then the close frame. It takes nothing new meanwhile, and is dropped
   * if it has not drained within the close timeout.
   */
  closeWhenDrained(ws: ClientSocket, code: number, reason: string): void;
}

// Between sweeps, a drain uWS reported no event for (it flushed while writing a pong, say)
// leaves a frame unsettled this long at most.
const SWEEP_MS = 1000;

const isRecipientId = TypeCompiler.Compile(RecipientId);

export function createSocketHandlers(opts: SocketOptions): SocketHandlers {
  const { connections, presence, acks, held, log } = opts;
  const stats: ServerStats = {
    opened: 0,
    refused: 0,
    invalidFrames: 0,
    oversizeFrames: 0,
    binaryFrames: 0,
    tooManyMessages: 0,
    originRefused: 0,
    expired: 0,
    closeTimeouts: 0,
  };
  const allowOrigin = createOriginPolicy(opts.allowedOrigins);
  const perSecond = opts.maxClientMessagesPerSecond;
  let open = 0;
  const expiry = createExpiryBuckets<ClientSocket>({
    onExpired: (ws) => {
      stats.expired++;
      closeWhenDrained(ws, CLOSE.TOKEN_EXPIRED, 'token expired');
    },
  });

  /** Every client frame, pings and garbage included, spends from the socket's budget. */
  function overRate(ws: ClientSocket, data: SocketData): boolean {
    if (spendMessage(data.messages, perSecond, Date.now())) return false;
    stats.tooManyMessages++;
    log.info({ recipientId: data.recipientId, code: CLOSE.TOO_MANY_MESSAGES }, 'closing a socket sending too many messages');
    ws.end(CLOSE.TOO_MANY_MESSAGES, 'too many messages');
    return true;
  }

  /** Out of the node's connections and presence, once: it takes no more notifications. */
  function release(data: SocketData, ws: ClientSocket): void {
    if (data.released) return;
    data.released = true;
    removeConnection(connections, data.recipientId, ws);
    presence.disconnected(data.recipientId).catch((err: unknown) => {
      log.error({ err: (err as Error).message, recipientId: data.recipientId }, 'presence decrement failed');
    });
  }

  function closeWhenDrained(ws: ClientSocket, code: number, reason: string): void {
    const data = ws.getUserData();
    if (data.closed || data.closing) return;
    if (held.settle(ws) === 0) {
      ws.end(code, reason);
      return;
    }
    release(data, ws);
    // uWS would give an ended socket only its ping timeout (16 s at most) to drain before
    // dropping it, close frame and all: so the node waits itself, and ends it once drained.
    const timer = setTimeout(() => {
      if (data.closed) return;
      stats.closeTimeouts++;
      log.info(
        { recipientId: data.recipientId, code, bufferedBytes: ws.getBufferedAmount(), closeTimeoutSeconds: opts.closeTimeoutSeconds },
        'dropping a socket that did not read what it held in time',
      );
      ws.close();
    }, opts.closeTimeoutSeconds * 1000);
    timer.unref();
    data.closing = { code, reason, timer };
  }

  /** uWS sent more of what the socket buffered: settle those frames, and end a closing socket once empty. */
  function afterDrain(ws: ClientSocket): void {
    const data = ws.getUserData();
    if (data.closed || !data.accepted) return;
    const buffered = held.settle(ws);
    if (data.closing && buffered === 0) {
      clearTimeout(data.closing.timer);
      ws.end(data.closing.code, data.closing.reason);
    }
  }

  const behavior: UWS.WebSocketBehavior<SocketData> = {
    // uWS enforces maxPayloadLength by dropping the TCP connection (the client sees 1006),
    // not with a close frame. So uWS gets a looser hard cap and we close frames over our own
    // limit with 1009 ourselves; only frames past the hard cap get the bare drop.
    maxPayloadLength: hardFrameCap(opts.maxFrameBytes),
    // uWS drops a send (returns 2) only when the bytes already buffered exceed this. The
    // delivery handler never sends to a socket buffering more than maxBackpressureBytes and closes it
    // with 4010 instead, so with room above ours uWS never drops a frame we counted as
    // delivered, nor the 4010 close frame itself.
    maxBackpressure: uwsMaxBackpressure(opts.maxBackpressureBytes),
    closeOnBackpressureLimit: false,
    idleTimeout: opts.idleTimeoutSeconds ?? 60,
    sendPingsAutomatically: true,
    compression: uWS.DISABLED,

    // Every token is upgraded and verified once the socket is open: only an open WebSocket
    // can tell the client why with a close code, and verification is asynchronous (jose; a
    // JWKS may be fetched), while an upgrade finished outside this handler trips a uWS bug
    // that closes the new socket (uWebSockets#1928). Nothing here logs the query string or
    // the URL: the token travels in it.
    upgrade: (res, req, context) => {
      // uWS upgrades anything with a 24-character Sec-WebSocket-Key; RFC 6455 (4.2.1) asks more.
      if (req.getHeader('upgrade').toLowerCase() !== 'websocket') {
        res
          .writeStatus('400 Bad Request')
          .writeHeader('content-type', 'application/json')
          .end('{"status":"not a WebSocket upgrade"}', true);
        return;
      }
      if (req.getHeader('sec-websocket-version') !== '13') {
        res
          .writeStatus('426 Upgrade Required')
          .writeHeader('sec-websocket-version', '13')
          .writeHeader('content-type', 'application/json')
          .end('{"status":"unsupported WebSocket version"}', true);
        return;
      }
      const origin = req.getHeader('origin');
      if (!allowOrigin(origin, req.getHeader('host'))) {
        stats.originRefused++;
        log.info({ origin: origin.slice(0, 256), remoteAddress: remoteAddress(res) }, 'upgrade refused: origin not allowed');
        res.writeStatus('403 Forbidden').writeHeader('content-type', 'application/json').end('{"status":"origin not allowed"}', true);
        return;
      }
      res.upgrade(
        pendingSocket(req.getQuery('token') ?? ''),
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    open: (ws) => {
      const data = ws.getUserData();
      const token = data.token ?? '';
      delete data.token;
      void verdictFor(token, opts)
        .catch((err: unknown) => {
          log.error({ err: (err as Error).message }, 'token verification failed');
          return { code: CLOSE.TOKEN_INVALID, reason: 'token invalid' };
        })
        .then((verdict) => {
          // Gone while its token was checked: nothing to accept or refuse.
          if (!data.closed) settle(ws, data, verdict);
        });
    },

    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      if (data.closed || data.refused) return;
      if (!data.accepted) {
        // Sent before its token was verified: kept (uWS reuses the buffer) and handled once
        // it is. One more than a second's allowance is enough for the rate limit to see.
        data.early ??= [];
        if (data.early.length <= perSecond) data.early.push({ message: message.slice(0), isBinary });
        return;
      }
      onMessage(ws, data, message, isBinary);
    },

    drain: afterDrain,

    ping: (ws) => {
      const data = ws.getUserData();
      if (data.accepted && !data.closed) overRate(ws, data);
    },

    close: (ws, code) => {
      const data = ws.getUserData();
      if (!data.accepted) {
        data.closed = true;
        return;
      }
      // Whatever uWS still buffers for it is thrown away now, or may be: count it lost.
      held.socketGone(ws);
      data.closed = true;
      if (data.closing) clearTimeout(data.closing.timer);
      open--;
      if (data.expiryBucket !== undefined) expiry.untrack(ws, data.expiryBucket);
      release(data, ws);
      log.debug({ recipientId: data.recipientId, code }, 'disconnected');
    },
  };

  function onMessage(ws: ClientSocket, data: SocketData, message: ArrayBuffer, isBinary: boolean): void {
    if (data.closed || overRate(ws, data)) return;
    if (message.byteLength > opts.maxFrameBytes) {
      stats.oversizeFrames++;
      ws.end(CLOSE.MESSAGE_TOO_BIG, 'frame too large');
      return;
    }
    if (isBinary) {
      stats.binaryFrames++;
      ws.end(CLOSE.UNSUPPORTED_DATA, 'binary frames not accepted');
      return;
    }
    const frame = parseClientFrame(message, isBinary);
    if (!frame) {
      stats.invalidFrames++;
      return;
    }
    acks.record(data, frame.notificationId);
  }

  function refuse(ws: ClientSocket, data: SocketData, why: { code: number; reason: string }): void {
    data.refused = why;
    stats.refused++;
    log.info({ code: why.code, reason: why.reason }, 'connection refused');
    ws.end(why.code, why.reason);
  }

  /** A verified token takes its place among the node's sockets, within the limits; else it is closed with why. */
  function settle(ws: ClientSocket, data: SocketData, verdict: Verdict): void {
    if ('code' in verdict) {
      refuse(ws, data, verdict);
      return;
    }
    const overLimit = limitRefusal(verdict.recipientId);
    if (overLimit) {
      refuse(ws, data, overLimit);
      return;
    }
    data.recipientId = verdict.recipientId;
    data.deadlineMs = verdict.deadlineMs;
    data.messages = fullBudget(perSecond, Date.now());
    data.accepted = true;
    data.released = false;
    stats.opened++;
    open++;
    addConnection(connections, data.recipientId, ws);
    data.expiryBucket = expiry.track(ws, data.deadlineMs);
    presence.connected(data.recipientId).catch((err: unknown) => {
      log.error({ err: (err as Error).message, recipientId: data.recipientId }, 'presence increment failed');
    });
    log.debug({ recipientId: data.recipientId }, 'connected');
    const early = data.early;
    data.early = undefined;
    for (const f of early ?? []) onMessage(ws, data, f.message, f.isBinary);
  }

  /** A browser sees a close code only on an open socket, so limits close rather than refuse the upgrade. */
  function limitRefusal(recipientId: string): SocketData['refused'] {
    if (open >= opts.maxConnections) return { code: CLOSE.TRY_AGAIN_LATER, reason: 'node at connection limit' };
    if ((socketsOf(connections, recipientId)?.size ?? 0) >= opts.maxConnectionsPerRecipient) {
      return { code: CLOSE.TOO_MANY_CONNECTIONS, reason: 'too many connections for this recipient' };
    }
    return undefined;
  }

  return {
    behavior,
    stats,
    openConnections: () => open,
    startSweeps() {
      const stopExpiry = expiry.start();
      const sweep = setInterval(() => {
        for (const ws of [...held.holdingSockets()]) afterDrain(ws);
      }, SWEEP_MS);
      sweep.unref();
      return () => {
        stopExpiry();
        clearInterval(sweep);
      };
    },
    closeAll(code, reason) {
      for (const ws of allSockets(connections)) closeQuietly(ws, code, reason);
      // Sockets already closing are out of `connections`; they go now too.
      for (const ws of [...held.holdingSockets()]) closeQuietly(ws, code, reason);
    },
    closeWhenDrained,
  };
}

/** Who the token names and until when, or why it is refused. */
type Verdict = { recipientId: string; deadlineMs: number } | { code: number; reason: string };

async function verdictFor(token: string, opts: SocketOptions): Promise<Verdict> {
  // The same code as a bad token (the client's remedy is the same), but the reason tells a
  // person who forgot `?token=` from one whose token is wrong.
  if (token === '') return { code: CLOSE.TOKEN_INVALID, reason: 'token missing' };
  const verdict = await verifyConnectToken(token, opts.connectKeys, {
    clockSkewSeconds: opts.clockSkewSeconds,
    ...(opts.tokenAudience !== undefined ? { audience: opts.tokenAudience } : {}),
  });
  if (!verdict.ok) {
    return verdict.error === 'TOKEN_EXPIRED'
      ? { code: CLOSE.TOKEN_EXPIRED, reason: 'token expired' }
      : { code: CLOSE.TOKEN_INVALID, reason: 'token invalid' };
  }
  const { sub, exp } = verdict.claims;
  // The recipient id becomes part of Redis keys: hold it to the same rules as the API, its
  // configured length included (a longer one could never be sent anything, yet would hold a
  // connection and write presence).
  if (!isRecipientId.Check(sub)) return { code: CLOSE.TOKEN_INVALID, reason: 'token invalid' };
  if (sub.length > opts.maxRecipientIdLength) return { code: CLOSE.TOKEN_INVALID, reason: 'token invalid: sub too long' };
  // Whoever signed it, a token may not outlive the longest one the gateway gives.
  if (exp > Date.now() / 1000 + opts.maxTokenTtlSeconds + opts.clockSkewSeconds) {
    return { code: CLOSE.TOKEN_INVALID, reason: 'token invalid: exp too far ahead' };
  }
  // Open exactly as long as a connect with this token would be accepted.
  return { recipientId: sub, deadlineMs: (exp + opts.clockSkewSeconds) * 1000 };
}

/** uWS's own limit, kept above ours (see the ws behaviour); uWS reads it as a 32-bit int. */
export function uwsMaxBackpressure(maxBackpressureBytes: number): number {
  return Math.min(maxBackpressureBytes * 2 + 1024 * 1024, 2 ** 31 - 1);
}

function remoteAddress(res: UWS.HttpResponse): string {
  try {
    return Buffer.from(res.getRemoteAddressAsText()).toString();
  } catch {
    return '';
  }
}

/** Large enough that real oversize frames reach our handler and get 1009. */
export function hardFrameCap(maxFrameBytes: number): number {
  return Math.max(maxFrameBytes * 4, 64 * 1024);
}

function closeQuietly(ws: ClientSocket, code: number, reason: string): void {
  try {
    if (!ws.getUserData().closed) ws.end(code, reason);
  } catch {
    // Closed between the snapshot and now: nothing left to do.
  }
}
