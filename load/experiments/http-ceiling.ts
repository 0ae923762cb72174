/**
 * How many POSTs per second this machine serves at all, with the bench's own sender and
 * no PushFlow behind the route: a server in a child process answers 202 at once to POST
 * /notifications, after validating the body against the gateway's own schema. It bounds
 * what the gateway can reach here, whatever the gateway does. Prints one JSON line, with
 * the server's CPU µs per POST.
 *
 * `--server fastify` (the default) is the gateway's own stack, Node's HTTP and Fastify.
 * `--server uws` serves the same route on uWebSockets.js's HTTP, as the delivery node
 * serves its sockets, with TypeBox's compiled check: what the send route would cost the
 * gateway outside Fastify. `--server node` serves it on Node's HTTP alone, with the same
 * check: what a fast path in front of Fastify, on the same server, would cost.
 *
 *   ./scripts/node.sh load/experiments/http-ceiling.ts [--server fastify|uws|node] [--connections N] [--duration S]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { DEFAULT_CONTENT_LIMITS, notificationContentSchema, uuidv7 } from '@pushflow/shared';
import { now } from '../drivers/clock.ts';
import { machineInfo } from '../probes/environment.ts';
import { summarize } from '../report/percentiles.ts';
import { sampleProcess } from '../probes/processes.ts';
import { timedPost } from '../drivers/senders.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    server: { type: 'string', default: 'fastify' },
    serve: { type: 'boolean', default: false },
  },
});

const accepted = () => ({ notificationId: uuidv7(), status: 'ACCEPTED', acceptedAt: new Date().toISOString() });

/** What the bare uws and node routes accept, as Fastify's would: a JSON body that fits the gateway's schema. */
function bodyCheck(): (contentType: string, chunks: Buffer[]) => boolean {
  const check = TypeCompiler.Compile(notificationContentSchema(DEFAULT_CONTENT_LIMITS));
  return (contentType, chunks) => {
    if (!contentType.startsWith('application/json')) return false;
    try {
      return check.Check(JSON.parse(Buffer.concat(chunks).toString()));
    } catch {
      return false;
    }
  };
}

if (values.serve && values.server === 'uws') {
  // Loaded only here: the native addon needs scripts/node.sh's glibc on Debian 12.
  const { default: uWS } = await import('uWebSockets.js');
  const acceptable = bodyCheck();
  const app = uWS.App().post('/notifications', (res, req) => {
    const contentType = req.getHeader('content-type');
    let aborted = false;
    res.onAborted(() => void (aborted = true));
    const chunks: Buffer[] = [];
    res.onData((chunk, last) => {
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!last) return;
      const ok = acceptable(contentType, chunks);
      // Answered on a later turn, as a route that awaits anything would be.
      setImmediate(() => {
        if (aborted) return;
        res.cork(() =>
          res
            .writeStatus(ok ? '202 Accepted' : '400 Bad Request')
            .writeHeader('content-type', 'application/json; charset=utf-8')
            .end(ok ? JSON.stringify(accepted()) : '{}'),
        );
      });
    });
  });
  app.listen('127.0.0.1', 0, (socket) => {
    if (!socket) process.exit(1);
    process.send!({ port: uWS.us_socket_local_port(socket) });
  });
  process.on('disconnect', () => process.exit(0));
} else if (values.serve && values.server === 'node') {
  const { createServer } = await import('node:http');
  const acceptable = bodyCheck();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ok = acceptable(req.headers['content-type'] ?? '', chunks);
      setImmediate(() => {
        const body = ok ? JSON.stringify(accepted()) : '{}';
        res.writeHead(ok ? 202 : 400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
  });
  server.keepAliveTimeout = 72_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('disconnect', () => process.exit(0));
} else if (values.serve) {
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  app.post('/notifications', { schema: { body: notificationContentSchema(DEFAULT_CONTENT_LIMITS) } }, async (_request, reply) =>
    reply.code(202).send(accepted()),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.send!({ port: (app.server.address() as { port: number }).port });
  process.on('disconnect', () => process.exit(0));
} else {
  const connections = Number(values.connections);
  const seconds = Number(values.duration);
  if (!Number.isInteger(connections) || connections < 1 || !(seconds > 0) || !['fastify', 'uws', 'node'].includes(values.server)) {
    process.stderr.write(
      'http-ceiling: --connections takes a positive integer, --duration a positive number, --server fastify, uws or node\n',
    );
    process.exit(1);
  }
  const server = fork(new URL(import.meta.url), ['--serve', '--server', values.server], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const [{ port }] = (await once(server, 'message')) as [{ port: number }];
    const url = `http://127.0.0.1:${port}/notifications`;
    const headers = { 'content-type': 'application/json' };
    const body = (sentAt: number) => JSON.stringify({ recipientId: 'ceiling', title: 'bench', data: { sentAt, to: 'ceiling' } });
    // A second of warm-up, so the JIT and the connections are ready before the window.
    const warmUntil = now() + 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (now() < warmUntil) await timedPost(url, headers, body);
      }),
    );

    const statuses: Record<string, number> = {};
    const postMs: number[] = [];
    const serverBefore = sampleProcess(server.pid!).cpuSeconds;
    const ownBefore = process.cpuUsage();
    const started = now();
    const until = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (now() < until) {
          const r = await timedPost(url, headers, body);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status === 202) postMs.push(r.postMs);
        }
      }),
    );
    const window = (now() - started) / 1000;
    const own = process.cpuUsage(ownBefore);
    const serverAfter = sampleProcess(server.pid!).cpuSeconds;
    const serverCpu = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore;
    process.stdout.write(
      `${JSON.stringify({
        scenario: 'http-ceiling',
        parameters: { server: values.server, connections, durationSeconds: seconds },
        requestsPerSecond: Math.round(postMs.length / window),
        statuses,
        latencyMs: { post: summarize(postMs) },
        cpuSeconds: {
          server: serverCpu === null ? null : Number(serverCpu.toFixed(2)),
          loadGenerator: Number(((own.user + own.system) / 1e6).toFixed(2)),
        },
        serverCpuMicrosPerPost: serverCpu === null || postMs.length === 0 ? null : Number(((serverCpu / postMs.length) * 1e6).toFixed(1)),
        machine: machineInfo(),
      })}\n`,
    );
  } finally {
    server.disconnect();
    await once(server, 'exit');
  }
}
