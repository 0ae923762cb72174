import type uWS from 'uWebSockets.js';

/**
 * Listens on host:port with the port to itself, or resolves to `false`. By default uWS
 * listens with SO_REUSEPORT, and a second process started on a taken port (another
 * replica, a leftover) would share it silently, the kernel handing it half of the new
 * connections; refused, the service stops at start instead. The delivery nodes and the
 * gateway both listen through this.
 */
export function listenExclusive(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket | false> {
  // uWS.js takes the options after the host at run time; its typings list that form only without a host.
  return new Promise((resolve) => (app as unknown as { listen: ListenWithHost }).listen(host, port, LISTEN_EXCLUSIVE_PORT, resolve));
}

/** uWS.js's LIBUS_LISTEN_EXCLUSIVE_PORT (its typings declare it in an enum, ListenOptions, that does not exist at run time). */
const LISTEN_EXCLUSIVE_PORT = 1;
type ListenWithHost = (
  host: string,
  port: number,
  options: number,
  cb: (listenSocket: uWS.us_listen_socket | false) => void,
) => uWS.TemplatedApp;
