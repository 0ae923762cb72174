import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';

/**
 * A TCP proxy a fault test puts between a service and a server, to cut the server off
 * (every connection dropped, new ones refused) and bring it back, without touching it.
 */
export interface TcpProxy {
  port: number;
  /** The target URL with host and port replaced by the proxy's. */
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /**
   * The next bytes the server sends back are thrown away and that connection is cut: the
   * server did the work, the client never hears of it (a crash between the two).
   */
  dropNextReply(): void;
  /**
   * Bytes from clients are swallowed until release(): connections stay open, requests
   * never reach the server and are never answered (a frozen server, a black-holed route).
   */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port);
  const sockets = new Set<Socket>();
  let server: NetServer | undefined;
  let port = 0;
  let dropNext = false;
  let holding = false;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.once('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.on('data', (chunk: Buffer) => {
          if (!holding) upstream.write(chunk);
        });
        client.once('end', () => upstream.end());
        upstream.on('data', (chunk: Buffer) => {
          if (!dropNext) return void client.write(chunk);
          dropNext = false;
          client.destroy();
          upstream.destroy();
        });
        upstream.once('end', () => client.end());
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });

  const cut = async () => {
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };

  await listen();
  const url = new URL(targetUrl);
  url.host = `127.0.0.1:${port}`;
  return {
    port,
    url: url.toString(),
    cut,
    restore: listen,
    close: cut,
    dropNextReply: () => void (dropNext = true),
    hold: () => void (holding = true),
    release: () => void (holding = false),
  };
}
