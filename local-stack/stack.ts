import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, mongoServer, redisServer, type Server } from './servers.ts';
import { CLUSTER_STACK_ENV, clusterRequested, redisCluster } from './redis-cluster.ts';
import { uniqueMongoUrl, uniquePrefix } from './isolation.ts';

/**
 * Runs PushFlow's services as separate processes, the way an operator would, and waits
 * for each to log `ready`. Used by the end-to-end tests, by `make dev` (scripts/dev.ts) and
 * by the bench (load/), which is why it lives here and not in test/: local-stack/ holds what
 * starts a stack and its servers, test/harness/ what only tests use.
 */
export const root = fileURLToPath(new URL('..', import.meta.url));

export type ServiceName = 'gateway' | 'dispatcher' | 'delivery';

export interface ServiceProcess {
  name: string;
  service: ServiceName;
  /** What it was started with, so a test can start it again the same way. */
  env: Record<string, string>;
  child: ChildProcess;
  /** Every line the service printed (JSON log lines and anything else). */
  lines: string[];
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startService(
  service: ServiceName,
  env: Record<string, string>,
  opts: { label?: string; onLine?: (line: string) => void; readyTimeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const name = opts.label ?? service;
  // PUSHFLOW_CPU_PROF_DIR (load/bench.ts --cpu-prof) writes each service's V8 CPU profile
  // into a folder of its own when it exits. Node refuses --cpu-prof in NODE_OPTIONS, so it
  // goes on the command line.
  const profDir = process.env.PUSHFLOW_CPU_PROF_DIR;
  const profile = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}/${name}`] : [];
  const child = spawn(`${root}/scripts/node.sh`, [...profile, `${service}/src/main.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      opts.onLine?.(line);
      if (line.includes('"msg":"ready"')) onReady();
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref()),
  ]);
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`${name} ${outcome === 'exited' ? 'exited' : `was not ready after ${timeoutMs} ms`}:\n${lines.slice(-30).join('\n')}`);
  }
  return {
    name,
    service,
    env,
    child,
    lines,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export const portVarOf = { gateway: 'GATEWAY_PORT', dispatcher: 'DISPATCHER_PORT', delivery: 'DELIVERY_PORT' } as const;

/**
 * Starts a service on the given port, or on one freePort() finds. Test files run in
 * parallel, and another one may take that port between the probe and the service's listen:
 * the service then refuses to start (its port is taken), and this tries another port.
 */
async function startOnPort(
  service: ServiceName,
  env: Record<string, string>,
  fixed: number | undefined,
  opts: { label?: string; onLine?: (line: string) => void },
): Promise<{ proc: ServiceProcess; port: number }> {
  const portVar = portVarOf[service];
  for (let attempt = 1; ; attempt++) {
    const port = fixed ?? (await freePort());
    try {
      return { proc: await startService(service, { ...env, [portVar]: String(port) }, opts), port };
    } catch (err) {
      const taken = /EADDRINUSE|cannot listen on/.test((err as Error).message);
      if (fixed !== undefined || !taken || attempt === 3) throw err;
    }
  }
}

export interface StackOptions {
  deliveryNodes?: number;
  /** Dispatcher processes (labels 'dispatcher', then 'dispatcher-2', ...); one by default. */
  dispatchers?: number;
  /** Fixed ports (make dev); tests take free ones. */
  gatewayPort?: number;
  deliveryPorts?: number[];
  dispatcherPort?: number;
  env?: Record<string, string>;
  /** Shared servers; a stack started without them starts its own. A Redis Cluster (redis-cluster.ts) serves too. */
  redis?: Server;
  mongo?: Server;
  isolate?: boolean;
  /** The key prefix of an isolated stack; a unique one by default. */
  prefix?: string;
  onLine?: (service: string, line: string) => void;
}

export interface Stack {
  gatewayUrl: string;
  deliveryUrls: string[];
  nodeIds: string[];
  apiKey: string;
  connectSecret: string;
  redisUrl: string;
  mongoUrl: string;
  prefix: string;
  services: ServiceProcess[];
  /** The Redis and MongoDB-protocol servers this stack started as local processes. */
  serverProcesses: { name: 'redis' | 'mongo'; pid: number }[];
  /** The running process of a service (by label: 'gateway', 'dispatcher', 'delivery' or 'delivery-2'). */
  service(label: string): ServiceProcess;
  /** Kills a service with the signal, waits for it to exit, starts it again with the same settings. */
  restart(label: string, signal?: NodeJS.Signals): Promise<ServiceProcess>;
  /** Starts one more process of a service with the stack's settings (e.g. a second dispatcher). */
  add(service: ServiceName, env?: Record<string, string>, label?: string): Promise<ServiceProcess>;
  /** SIGTERM to every service; resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
}

export const devApiKey = 'dev-only-api-key-change-me';
export const devConnectSecret = 'dev-only-connect-secret-change-me-0000000000';
/** Tests send bursts far over the default rate limit; a stack's env can still turn it on. */
const gatewayDefaults = { PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' };

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const ownServers: Server[] = [];
  const own = async (start: () => Promise<Server>) => {
    const s = await start();
    ownServers.push(s);
    return s;
  };
  // PUSHFLOW_TEST_REDIS_CLUSTER=1 runs the suites that start their own Redis on a Redis Cluster.
  const onCluster = !opts.redis && clusterRequested();
  const redis: Server = opts.redis ?? (await own(onCluster ? () => redisCluster() : redisServer));
  const mongo: Server = opts.mongo ?? (await own(mongoServer));
  const isolate = opts.isolate ?? true;
  const prefix = isolate ? (opts.prefix ?? uniquePrefix()) : 'pushflow:';
  const mongoUrl = isolate ? uniqueMongoUrl(mongo.url) : mongo.url;
  const apiKey = opts.env?.PUSHFLOW_API_KEYS?.split(',')[0] ?? devApiKey;
  const connectSecret = opts.env?.PUSHFLOW_CONNECT_SECRET ?? devConnectSecret;
  const base = {
    REDIS_URL: redis.url,
    MONGO_URL: mongoUrl,
    PUSHFLOW_REDIS_PREFIX: prefix,
    PUSHFLOW_API_KEYS: apiKey,
    PUSHFLOW_CONNECT_SECRET: connectSecret,
    LOG_LEVEL: 'info',
    ...(onCluster && CLUSTER_STACK_ENV),
    ...opts.env,
  };
  const services: ServiceProcess[] = [];
  // PUSHFLOW_TEST_LOGS=1 echoes every service's output, for debugging a failing test.
  const echo = process.env.PUSHFLOW_TEST_LOGS ? (label: string, line: string) => process.stderr.write(`[${label}] ${line}\n`) : undefined;
  const onLine = (label: string) => (line: string) => (opts.onLine ?? echo)?.(label, line);
  try {
    services.push((await startOnPort('dispatcher', base, opts.dispatcherPort, { onLine: onLine('dispatcher') })).proc);
    for (let i = 2; i <= (opts.dispatchers ?? 1); i++) {
      const label = `dispatcher-${i}`;
      services.push((await startOnPort('dispatcher', base, undefined, { label, onLine: onLine(label) })).proc);
    }
    const nodes = opts.deliveryNodes ?? 1;
    const nodeIds = Array.from({ length: nodes }, (_, i) => `delivery-${i + 1}`);
    const deliveries = nodeIds.map((nodeId, i) => {
      const label = nodes > 1 ? nodeId : 'delivery';
      return startOnPort('delivery', { ...base, PUSHFLOW_NODE_ID: nodeId }, opts.deliveryPorts?.[i], { label, onLine: onLine(label) });
    });
    const gatewayStart = startOnPort('gateway', { ...gatewayDefaults, ...base }, opts.gatewayPort, { onLine: onLine('gateway') });
    // Every start is awaited before any failure is thrown, so the catch below stops them all.
    const started = await Promise.allSettled([...deliveries, gatewayStart]);
    for (const r of started) if (r.status === 'fulfilled') services.push(r.value.proc);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const ports = started.map((r) => (r as PromiseFulfilledResult<{ port: number }>).value.port);
    const deliveryUrls = ports.slice(0, nodes).map((port) => `ws://127.0.0.1:${port}`);
    const gatewayPort = ports[nodes]!;
    const find = (label: string) => {
      const found = services.find((s) => s.name === label);
      if (!found) throw new Error(`no service ${label} in this stack`);
      return found;
    };
    return {
      gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
      deliveryUrls,
      nodeIds,
      apiKey,
      connectSecret,
      redisUrl: redis.url,
      mongoUrl,
      prefix,
      services,
      serverProcesses: [
        ...(ownServers.includes(redis) && redis.pid ? [{ name: 'redis' as const, pid: redis.pid }] : []),
        ...(ownServers.includes(mongo) && mongo.pid ? [{ name: 'mongo' as const, pid: mongo.pid }] : []),
      ],
      service: find,
      async restart(label, signal = 'SIGKILL') {
        const old = find(label);
        await old.stop(signal);
        const fresh = await startService(old.service, old.env, { label, onLine: onLine(label) });
        services.splice(services.indexOf(old), 1, fresh);
        return fresh;
      },
      async add(service, env = {}, label = `${service}-${services.length + 1}`) {
        const defaults = service === 'gateway' ? gatewayDefaults : {};
        const fixedPort = env[portVarOf[service]];
        const { proc } = await startOnPort(
          service,
          { ...defaults, ...base, ...env },
          fixedPort === undefined ? undefined : Number(fixedPort),
          { label, onLine: onLine(label) },
        );
        services.push(proc);
        return proc;
      },
      async stop() {
        // Gateways first so no new work arrives, then the rest.
        const codes = await Promise.all(services.map((s) => s.stop()));
        await Promise.all(ownServers.map((s) => s.stop()));
        return codes;
      },
    };
  } catch (err) {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await Promise.all(ownServers.map((s) => s.stop()));
    throw err;
  }
}
