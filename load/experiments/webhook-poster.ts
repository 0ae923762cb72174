/**
 * What one webhook POST costs the relay's thread, apart from the rest of the relay: the
 * dispatcher's own poster (dispatcher/src/webhooks/poster.ts) sends signed-size messages to a
 * receiver in a child process that answers 204 at once, `--concurrency` at a time, as the
 * relay does to one endpoint. Prints one JSON line: POSTs a second and the CPU µs each cost
 * this process (the poster) and the receiver.
 *
 *   ./scripts/node.sh load/experiments/webhook-poster.ts [--posts N] [--concurrency N]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createPoster } from '../../dispatcher/src/webhooks/poster.ts';
import { now } from '../drivers/clock.ts';
import { machineInfo } from '../probes/environment.ts';
import { sampleProcess } from '../probes/processes.ts';

const { values } = parseArgs({
  options: {
    posts: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '32' },
    serve: { type: 'boolean', default: false },
  },
});

if (values.serve) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
} else {
  const posts = Number(values.posts);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(posts) || posts < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    process.stderr.write('webhook-poster: --posts and --concurrency take positive integers\n');
    process.exit(1);
  }
  const receiver = fork(new URL(import.meta.url), ['--serve'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const poster = createPoster({ timeoutMs: 10_000, maxResponseBytes: 4096, allowPrivate: true, connections: concurrency });
  try {
    const [{ port }] = (await once(receiver, 'message')) as [{ port: number }];
    const url = `http://127.0.0.1:${port}/hook`;
    // The size of a real message: an outcome's payload and its three Standard Webhooks headers.
    const at = new Date().toISOString();
    const body = JSON.stringify({
      type: 'notification.failed',
      timestamp: at,
      data: {
        notificationId: '019ae7d2-5a1c-7c3e-9d4b-2f6a8e1c0b3d',
        recipientId: 'user-1',
        status: 'FAILED',
        reason: 'no connection',
        at,
      },
    });
    const headers = {
      'webhook-id': 'msg_019ae7d25a1c7c3e9d4b2f6a8e1c0b3d',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${Buffer.alloc(32, 1).toString('base64')}`,
    };
    const statuses: Record<string, number> = {};
    async function send(count: number): Promise<void> {
      let sent = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (sent++ < count) {
            const r = await poster.post(url, headers, body);
            const key = r.status === undefined ? (r.error ?? 'error') : String(r.status);
            statuses[key] = (statuses[key] ?? 0) + 1;
          }
        }),
      );
    }
    // Warm-up: the JIT and the keep-alive connections are ready before the window.
    await send(Math.min(5000, posts));
    for (const k of Object.keys(statuses)) delete statuses[k];

    const receiverBefore = sampleProcess(receiver.pid!).cpuSeconds;
    const ownBefore = process.cpuUsage();
    const started = now();
    await send(posts);
    const seconds = (now() - started) / 1000;
    const own = process.cpuUsage(ownBefore);
    const receiverAfter = sampleProcess(receiver.pid!).cpuSeconds;
    const ok = statuses['204'] ?? 0;
    process.stdout.write(
      `${JSON.stringify({
        scenario: 'webhook-poster',
        parameters: { posts, concurrency },
        postsPerSecond: Math.round(ok / seconds),
        statuses,
        cpuMicrosPerPost: {
          poster: Number(((own.user + own.system) / ok).toFixed(1)),
          posterUser: Number((own.user / ok).toFixed(1)),
          posterSystem: Number((own.system / ok).toFixed(1)),
          receiver:
            receiverBefore === null || receiverAfter === null ? null : Number((((receiverAfter - receiverBefore) * 1e6) / ok).toFixed(1)),
        },
        machine: machineInfo(),
      })}\n`,
    );
  } finally {
    await poster.close();
    receiver.disconnect();
    await once(receiver, 'exit');
  }
}
