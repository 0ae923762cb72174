import uWS from 'uWebSockets.js';
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

  return new Promise((resolve, reject) => {
    // Exclusive: by default uWS listens with SO_REUSEPORT, and a second process started on
    // a taken port (another node, a leftover) would share it silently, the kernel handing it
    // half of the new connections. Refused, it stops at start instead. (uWS.js takes the
    // options after the host at run time; its typings list that form only without a host.)
    (app as unknown as { listen: ListenWithHost }).listen(opts.host, opts.port, LISTEN_EXCLUSIVE_PORT, (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`cannot listen on ${opts.host}:${opts.port}`));
        return;
      }
      let listening = true;
      const stopSweeping = sockets.startSweeps();
      resolve({
        port: uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket),
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
      });
    });
  });
}

/** uWS.js's LIBUS_LISTEN_EXCLUSIVE_PORT (its typings declare it in an enum, ListenOptions, that does not exist at run time). */
const LISTEN_EXCLUSIVE_PORT = 1;
type ListenWithHost = (
  host: string,
  port: number,
  options: number,
  cb: (listenSocket: uWS.us_listen_socket | false) => void,
) => uWS.TemplatedApp;
