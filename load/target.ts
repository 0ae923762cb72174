import { startStack, type Stack } from '../test/harness/stack.ts';
import type { BenchOptions } from './options.ts';

/** The PushFlow the benchmark talks to: one it started itself, or a running one. */
export interface Target {
  gatewayUrl: string;
  deliveryUrls: string[];
  apiKey: string;
  mongoUrl?: string;
  redisUrl?: string;
  /** The service processes, when they are ours to observe. */
  processes: { name: string; pid: number; inspectorUrl?: string }[];
  stop(): Promise<void>;
}

// Service output is only kept for error reports; a run logs a line or more per request.
const keptLines = 200;

/**
 * `inspect` starts the services with the inspector on a free loopback port, so the harness
 * can make them collect garbage before sampling their memory (remote-gc.ts).
 */
export async function openTarget(options: BenchOptions, opts: { inspect?: boolean } = {}): Promise<Target> {
  if (options.external) return { ...options.external, processes: [], stop: async () => {} };
  const env = opts.inspect ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() } : undefined;
  const stack: Stack = await startStack({ deliveryNodes: options.nodes, onLine: () => {}, ...(env && { env }) });
  const trim = setInterval(() => {
    for (const s of stack.services) if (s.lines.length > 2 * keptLines) s.lines.splice(0, s.lines.length - keptLines);
  }, 1000).unref();
  return {
    gatewayUrl: stack.gatewayUrl,
    deliveryUrls: stack.deliveryUrls,
    apiKey: stack.apiKey,
    mongoUrl: stack.mongoUrl,
    redisUrl: stack.redisUrl,
    processes: stack.services.map((s) => {
      // Node prints this line on stderr before the service logs `ready`.
      const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(s.lines.join('\n'))?.[1];
      return { name: s.name, pid: s.child.pid!, ...(inspectorUrl && { inspectorUrl }) };
    }),
    async stop() {
      clearInterval(trim);
      const codes = await stack.stop();
      const failed = stack.services.filter((_, i) => codes[i] !== 0);
      if (failed.length > 0) {
        throw new Error(`services did not exit 0 on SIGTERM: ${failed.map((s) => `${s.name}\n${s.lines.slice(-20).join('\n')}`).join('\n')}`);
      }
    },
  };
}
