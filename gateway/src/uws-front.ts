import { STATUS_CODES } from 'node:http';
import { listenExclusive, type Logger } from '@pushflow/shared';
import type uWS from 'uWebSockets.js';
import type { App } from './app.ts';
import { buildProblem, PROBLEM_CONTENT_TYPE } from './problems.ts';
import type { Answer, FastRoute } from './fast-route.ts';

/**
 * The gateway's port on uWebSockets.js's HTTP, the server the delivery nodes use. Node's
 * HTTP costs the gateway 11 to 15 µs of CPU a POST more than uWS does (docs/performance.md,
 * "HTTP ceilings"), and a single-POST send is the gateway's hottest request: POST
 * /notifications and GET /notifications/:id/status go to fast routes (fast-route.ts), and
 * every other request, and any the fast routes decline, to the Fastify app through
 * `inject`, which runs its routes, hooks and error handler as a listening server would.
 */
export interface UwsFrontOptions {
  app: App;
  /** Tried in order before the app (fast-route.ts); none: every request goes to the app (PUSHFLOW_ACCESS_LOG=true, or LOG_LEVEL debug, wants Fastify's request lines). */
  fastRoutes: FastRoute[];
  host: string;
  port: number;
  /**
   * No request body to this path is held past this many bytes (its route's limit): the app
   * refuses a longer one with a 413, and a client that is refused anyway makes the gateway
   * hold no more than the route would have read.
   */
  bodyCapBytes: (path: string) => number;
  log: Logger;
}

export interface UwsFront {
  port: number;
  /** Stops listening, waits for the requests in flight, then closes the connections left. */
  close(): Promise<void>;
}

/** Headers the front writes itself, or that describe the app's side of the exchange, not the client's. */
const HOP_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

export async function serveOnUws({ app, fastRoutes, host, port, bodyCapBytes, log }: UwsFrontOptions): Promise<UwsFront> {
  // Loaded only here: the native addon needs scripts/node.sh's glibc on Debian 12, and the tests that inject need none.
  const { default: uws } = await import('@pushflow/shared/uws');
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const server = uws.App().any('/*', (res, req) => {
    const startedAt = performance.now();
    const method = req.getCaseSensitiveMethod();
    const path = req.getUrl();
    const query = req.getQuery();
    const url = query ? `${path}?${query}` : path;
    const headers: Record<string, string> = {};
    req.forEach((name, value) => {
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    });
    // Read now: uWS frees the request when the handler returns, and the response once it is aborted.
    const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
    // Counted until it is answered or its client is gone, whichever comes first, so close() waits for no more.
    inFlight += 1;
    let counted = true;
    const settle = () => {
      if (!counted) return;
      counted = false;
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
      settle();
    });

    const answer = async (body: Buffer, truncated: boolean) => {
      try {
        if (!truncated) {
          const request = { method, path, url, headers, body };
          for (const route of fastRoutes) {
            const taken = route(request, startedAt);
            if (taken === undefined) continue;
            const fast = await taken;
            if (fast) return respond(res, method, fast, false, () => aborted);
            break;
          }
        }
        const injected = await app.inject({
          method: method as 'GET',
          url,
          headers: forwarded(headers, body.length),
          payload: body,
          remoteAddress,
        });
        const answerHeaders: Answer['headers'] = {};
        for (const [name, value] of Object.entries(injected.headers)) {
          if (value === undefined || HOP_HEADERS.has(name)) continue;
          answerHeaders[name] = Array.isArray(value) ? value : String(value);
        }
        const reported = Number(injected.headers['content-length'] ?? injected.rawPayload.length);
        respond(
          res,
          method,
          { status: injected.statusCode, headers: answerHeaders, body: '' },
          truncated,
          () => aborted,
          injected.rawPayload,
          reported,
        );
      } catch (err) {
        log.error({ err, method, url }, 'request failed outside the app');
        const body = JSON.stringify(buildProblem('internal', url));
        respond(
          res,
          method,
          { status: 500, headers: { 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8` }, body },
          false,
          () => aborted,
        );
      } finally {
        settle();
      }
    };

    // uWS calls onData only for a request that has a body.
    const length = headers['content-length'];
    if ((length === undefined || length === '0') && headers['transfer-encoding'] === undefined) {
      void answer(Buffer.alloc(0), false);
      return;
    }
    const cap = bodyCapBytes(path);
    const chunks: Buffer[] = [];
    let received = 0;
    res.onData((chunk, last) => {
      // Past the cap the rest is read and dropped: the app refuses the request for its size from what it was given.
      if (received <= cap) {
        const kept = Buffer.from(chunk.slice(0, cap + 1 - received));
        chunks.push(kept);
      }
      received += chunk.byteLength;
      if (last) void answer(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), received > cap);
    });
  });

  const listening = await listenExclusive(server, host, port);
  if (!listening) throw new Error(`the gateway could not listen on ${host}:${port}`);
  return {
    port: uws.us_socket_local_port(listening),
    async close() {
      uws.us_listen_socket_close(listening);
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      server.close();
    },
  };
}

/** The client's headers for inject: the body is whole now, so it goes with its length instead of chunked. */
function forwarded(headers: Record<string, string>, length: number): Record<string, string> {
  const out = { ...headers };
  if (out['transfer-encoding'] !== undefined) {
    delete out['transfer-encoding'];
    out['content-length'] = String(length);
  }
  return out;
}

function respond(
  res: uWS.HttpResponse,
  method: string,
  answer: Answer,
  closeConnection: boolean,
  isAborted: () => boolean,
  raw?: Buffer,
  reportedLength?: number,
): void {
  if (isAborted()) return;
  res.cork(() => {
    res.writeStatus(`${answer.status} ${STATUS_CODES[answer.status] ?? ''}`);
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of Array.isArray(value) ? value : [value]) res.writeHeader(name, one);
    }
    if (method === 'HEAD') res.endWithoutBody(reportedLength ?? 0, closeConnection);
    else res.end(raw ?? answer.body, closeConnection);
  });
}
