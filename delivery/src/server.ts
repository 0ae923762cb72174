import uWS from 'uWebSockets.js';
import { RecipientId, verifyConnectToken, type Logger } from '@pushflow/shared';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { AckRecorder } from './acks.ts';
import { parseClientFrame } from './client-frames.ts';
import { addConnection, allSockets, removeConnection, type Connections } from './connections.ts';
import type { Presence } from './presence.ts';
import { acceptedSocket, refusedSocket, type ClientSocket, type SocketData } from './socket.ts';

/**
 * The uWS app: `/ws` for clients (DESIGN.md, "WebSocket (delivery)"), `/healthz` and
 * `/readyz` for orchestrators.
 */
export interface ServerOptions {
  host: string;
  port: number;
  connectSecret: string;
  /** Client frames above this close the socket with 1009. */
  maxFrameBytes: number;
  maxBackpressureBytes: number;
  /** Seconds without traffic before uWS drops a socket; it pings well before that. */
  idleTimeoutSeconds?: number;
  connections: Connections;
  presence: Presence;
  acks: AckRecorder;
  isReady: () => Promise<boolean>;
  log: Logger;
}

export interface ServerStats {
  opened: number;
  refused: number;
  invalidFrames: number;
  oversizeFrames: number;
}

export interface DeliveryServer {
  port: number;
  stats: ServerStats;
  /** Stops accepting connections; open sockets stay. */
  stopListening(): void;
  /** Closes every open socket with this code. */
  closeAll(code: number, reason: string): void;
  /** Drops every connection left: HTTP keep-alives, sockets still in their close handshake. */
  terminate(): void;
}

export const CLOSE = {
  GOING_AWAY: 1001,
  MESSAGE_TOO_BIG: 1009,
  TOKEN_INVALID: 4001,
  TOKEN_EXPIRED: 4003,
} as const;

const isRecipientId = TypeCompiler.Compile(RecipientId);

export function startServer(opts: ServerOptions): Promise<DeliveryServer> {
  const { connections, presence, acks, log } = opts;
  const stats: ServerStats = { opened: 0, refused: 0, invalidFrames: 0, oversizeFrames: 0 };

  const app = uWS.App();
  app.ws<SocketData>('/ws', {
    // uWS enforces maxPayloadLength by dropping the TCP connection (the client sees 1006),
    // not with a close frame. So uWS gets a looser hard cap and we close frames over our own
    // limit with 1009 ourselves; only frames past the hard cap get the bare drop.
    maxPayloadLength: hardFrameCap(opts.maxFrameBytes),
    // Our own check skips sockets above maxBackpressureBytes; uWS must not drop a frame
    // before that (a send is at most one frame past the limit).
    maxBackpressure: opts.maxBackpressureBytes * 2,
    closeOnBackpressureLimit: false,
    idleTimeout: opts.idleTimeoutSeconds ?? 60,
    sendPingsAutomatically: true,
    compression: uWS.DISABLED,

    // Verification is synchronous (HMAC), so the upgrade needs no onAborted dance. Bad tokens
    // are upgraded too: only an open WebSocket can tell the client why with a close code.
    upgrade: (res, req, context) => {
      const data = socketDataFor(req.getQuery('token') ?? '', opts.connectSecret);
      res.upgrade(
        data,
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    open: (ws) => {
      const data = ws.getUserData();
      if (data.refused) {
        stats.refused++;
        log.info({ code: data.refused.code }, 'connection refused');
        ws.end(data.refused.code, data.refused.reason);
        return;
      }
      stats.opened++;
      addConnection(connections, data.recipientId, ws);
      presence.connected(data.recipientId).catch((err: unknown) => {
        log.error({ err: (err as Error).message, recipientId: data.recipientId }, 'presence increment failed');
      });
      log.debug({ recipientId: data.recipientId }, 'connected');
    },

    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      if (data.refused) return;
      if (message.byteLength > opts.maxFrameBytes) {
        stats.oversizeFrames++;
        ws.end(CLOSE.MESSAGE_TOO_BIG, 'frame too large');
        return;
      }
      const frame = parseClientFrame(message, isBinary);
      if (!frame) {
        stats.invalidFrames++;
        return;
      }
      acks.record(data, frame.notificationId);
    },

    close: (ws, code) => {
      const data = ws.getUserData();
      data.closed = true;
      if (data.refused) return;
      removeConnection(connections, data.recipientId, ws);
      presence.disconnected(data.recipientId).catch((err: unknown) => {
        log.error({ err: (err as Error).message, recipientId: data.recipientId }, 'presence decrement failed');
      });
      log.debug({ recipientId: data.recipientId, code }, 'disconnected');
    },
  });

  app.get('/healthz', (res) => {
    json(res, '200 OK', { status: 'ok' });
  });

  app.get('/readyz', async (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const ready = await opts.isReady().catch(() => false);
    if (aborted) return;
    res.cork(() => json(res, ready ? '200 OK' : '503 Service Unavailable', { status: ready ? 'ready' : 'not ready' }));
  });

  app.any('/*', (res) => {
    json(res, '404 Not Found', { status: 'not found' });
  });

  return new Promise((resolve, reject) => {
    app.listen(opts.host, opts.port, (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`cannot listen on ${opts.host}:${opts.port}`));
        return;
      }
      let listening = true;
      resolve({
        port: uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket),
        stats,
        stopListening() {
          if (!listening) return;
          listening = false;
          uWS.us_listen_socket_close(listenSocket);
        },
        closeAll(code, reason) {
          for (const ws of allSockets(connections)) closeQuietly(ws, code, reason);
        },
        terminate() {
          listening = false;
          app.close();
        },
      });
    });
  });
}

function socketDataFor(token: string, secret: string): SocketData {
  const verdict = verifyConnectToken(token, secret);
  if (!verdict.ok) {
    return verdict.error === 'TOKEN_EXPIRED'
      ? refusedSocket(CLOSE.TOKEN_EXPIRED, 'token expired')
      : refusedSocket(CLOSE.TOKEN_INVALID, 'token invalid');
  }
  // The recipient id becomes part of Redis keys: hold it to the same rule as the API.
  if (!isRecipientId.Check(verdict.claims.sub)) return refusedSocket(CLOSE.TOKEN_INVALID, 'token invalid');
  return acceptedSocket(verdict.claims.sub);
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

function json(res: uWS.HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
}
