import type * as UWS from 'uWebSockets.js';
import uWS from '@pushflow/shared/uws';
import { listenExclusive } from '@pushflow/shared';
import { addHttpRoutes, type HttpRouteOptions } from './http-routes.ts';
import { createSocketHandlers, type ServerStats, type SocketHandlers, type SocketOptions } from './socket-handlers.ts';

/**
 * The uWS app: `/ws` for clients (docs/api.md, "WebSocket protocol"), `/healthz` and
 * `/readyz` for orchestrators, `/metrics` for Prometheus, `/demo` for people. The WebSocket
 * handlers (socket-handlers.ts) and the HTTP routes (http-routes.ts) are built apart; this
 * puts them on one app, listens, and hands the node what it needs to stop them.
 */
export interface ServerOptions extends SocketOptions, HttpRouteOptions {
  host: string;
  port: number;
}

export interface DeliveryServer {
  port: number;
  stats: ServerStats;
  /** Open, accepted sockets on this node. */
  openConnections(): number;
  /** Stops accepting connections; open sockets stay. */
  stopListening(): void;
  /** Closes every open socket with this code. */
  closeAll(code: number, reason: string): void;
  /** Closes a socket once it has sent what it holds (socket-handlers.ts). */
  closeWhenDrained: SocketHandlers['closeWhenDrained'];
  /** Drops every connection left: HTTP keep-alives, sockets still in their close handshake. */
  terminate(): void;
}

export function startServer(opts: ServerOptions): Promise<DeliveryServer> {
  const sockets = createSocketHandlers(opts);
  const app = uWS.App();
  app.ws('/ws', sockets.behavior);
  addHttpRoutes(app, opts);

  return listenExclusive(app, opts.host, opts.port).then((listenSocket) => {
    if (!listenSocket) throw new Error(`cannot listen on ${opts.host}:${opts.port}`);
    let listening = true;
    const stopSweeping = sockets.startSweeps();
    return {
      port: uWS.us_socket_local_port(listenSocket as unknown as UWS.us_socket),
      stats: sockets.stats,
      openConnections: sockets.openConnections,
      stopListening() {
        if (!listening) return;
        listening = false;
        uWS.us_listen_socket_close(listenSocket);
      },
      closeAll: sockets.closeAll,
      closeWhenDrained: sockets.closeWhenDrained,
      terminate() {
        listening = false;
        stopSweeping();
        app.close();
      },
    };
  });
}
