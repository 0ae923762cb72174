import { portVarOf, startStack, type Stack } from '../../local-stack/stack.ts';
import type { BenchOptions } from '../options.ts';

/** The PushFlow the benchmark talks to: one it started itself, or a running one. */
export interface Target {
  gatewayUrl: string;
  deliveryUrls: string[];
  apiKey: string;
  mongoUrl?: string;
  redisUrl?: string;
  /** PUSHFLOW_PARTITIONS and dispatcher processes of a stack the harness started. */
  partitions?: number;
  dispatchers?: number;
  /**
   * The processes of the stack, when they are ours to observe: the services (with their
   * /metrics) and the Redis and MongoDB-protocol servers the harness started.
   */
  processes: { name: string; pid: number; inspectorUrl?: string; metricsUrl?: string }[];
  stop(): Promise<void>;
}

// Service output is only kept for error reports; a run logs a line or more per request.
const keptLines = 200;

/**
 * `inspect` starts the services with the inspector on a free loopback port, so the harness
 * can make them collect garbage before sampling their memory (probes/remote-gc.ts).
 */
export async function openTarget(options: BenchOptions, opts: { inspect?: boolean; env?: Record<string, string> } = {}): Promise<Target> {
  if (options.external) return { ...options.external, processes: [], stop: async () => {} };
  const env: Record<string, string> = { PUSHFLOW_PARTITIONS: String(options.partitions), ...opts.env };
  if (opts.inspect) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim();
  const stack: Stack = await startStack({ deliveryNodes: options.nodes, onLine: () => {}, env });
  // The first dispatcher takes every partition; each one added takes its share from it.
  for (let i = 2; i <= options.dispatchers; i++) {
    await stack.add('dispatcher', { PUSHFLOW_CONSUMER_ID: `dispatcher-${i}` }, `dispatcher-${i}`);
  }
  await sharesSettled(stack, options.partitions, options.dispatchers);
  const trim = setInterval(() => {
    for (const s of stack.services) if (s.lines.length > 2 * keptLines) s.lines.splice(0, s.lines.length - keptLines);
  }, 1000).unref();
  return {
    gatewayUrl: stack.gatewayUrl,
    deliveryUrls: stack.deliveryUrls,
    apiKey: stack.apiKey,
    mongoUrl: stack.mongoUrl,
    redisUrl: stack.redisUrl,
    partitions: options.partitions,
    dispatchers: options.dispatchers,
    processes: [
      ...stack.services.map((s) => {
        // Node prints this line on stderr before the service logs `ready`.
        const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(s.lines.join('\n'))?.[1];
        const metricsUrl = `http://127.0.0.1:${s.env[portVarOf[s.service]]}/metrics`;
        return { name: s.name, pid: s.child.pid!, metricsUrl, ...(inspectorUrl && { inspectorUrl }) };
      }),
      ...stack.serverProcesses,
    ],
    async stop() {
      clearInterval(trim);
      const codes = await stack.stop();
      const failed = stack.services.filter((_, i) => codes[i] !== 0);
      if (failed.length > 0) {
        throw new Error(
          `services did not exit 0 on SIGTERM: ${failed.map((s) => `${s.name}\n${s.lines.slice(-20).join('\n')}`).join('\n')}`,
        );
      }
    },
  };
}

/**
 * Measuring starts once every dispatcher holds its share (ceil(P / D) at most, P in all):
 * until then the partitions still held by the first would make it the bottleneck.
 */
async function sharesSettled(stack: Stack, partitions: number, dispatchers: number, timeoutMs = 30_000): Promise<void> {
  const share = Math.ceil(partitions / dispatchers);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = stack.services
      .filter((s) => s.service === 'dispatcher')
      .map((s) => {
        const last = s.lines.findLast((l) => l.includes('"msg":"partitions held"'));
        return last ? (JSON.parse(last) as { partitions: number[] }).partitions.length : 0;
      });
    if (held.reduce((a, b) => a + b, 0) === partitions && held.every((n) => n <= share)) return;
    if (Date.now() > deadline)
      throw new Error(`dispatchers did not settle on ${partitions} partitions within ${timeoutMs} ms: ${held.join(' + ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
