import { Redis } from 'ioredis';

/**
 * What the servers say about a measuring window themselves, for finding what bounds a
 * figure: Redis's time per command (INFO commandstats) and its CPU (INFO cpu), both as
 * the change over the window, and each service's event-loop delay over the window. The
 * services' event-loop figures come from prom-client, which resets its delay histogram
 * whenever /metrics is read: the read at the start empties it, the one at the end reports
 * the window alone. A probe that cannot be read reports why instead of failing the run.
 */
export interface ProbeTarget {
  redisUrl?: string;
  processes: { name: string; metricsUrl?: string }[];
}

interface RedisSample {
  commands: Map<string, { calls: number; usec: number }>;
  cpuSeconds: number;
}

/** The window's Redis commands by time spent, most first; the rest are summed. */
const topCommands = 12;

export async function startWindowProbes(target: ProbeTarget) {
  const services = target.processes.filter((p): p is { name: string; metricsUrl: string } => p.metricsUrl !== undefined);
  const redis = target.redisUrl
    ? new Redis(target.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
    : undefined;
  let redisBefore: RedisSample | string | undefined;
  if (redis)
    redisBefore = await redis.connect().then(
      () => sampleRedis(redis),
      (err: Error) => `Redis not readable: ${err.message}`,
    );
  await Promise.all(services.map((s) => scrape(s.metricsUrl)));
  return {
    async stop() {
      const eventLoopDelayMs = Object.fromEntries(
        await Promise.all(
          services.map(async (s) => {
            const text = await scrape(s.metricsUrl);
            return [s.name, typeof text === 'string' ? eventLoopDelay(text) : null] as const;
          }),
        ),
      );
      let redisReport: ReturnType<typeof redisDelta> | { error: string } | null = null;
      if (typeof redisBefore === 'string') redisReport = { error: redisBefore };
      else if (redis && redisBefore) redisReport = redisDelta(redisBefore, await sampleRedis(redis));
      redis?.disconnect();
      return { eventLoopDelayMs, redis: redisReport };
    },
  };
}

async function scrape(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * prom-client samples the loop with a timer every 10 ms (its default precision) and its
 * nodejs_eventloop_lag_* gauges report the whole interval between ticks: an idle loop reads
 * 10.1 ms. What is left after that interval is the delay.
 */
const samplingIntervalMs = 10;

/** How late the loop ran, from prom-client's nodejs_eventloop_lag_* gauges, in ms; null where absent. */
export function eventLoopDelay(metrics: string) {
  const read = (stat: string) => {
    const m = new RegExp(`^nodejs_eventloop_lag_${stat}_seconds(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
    return m ? Math.max(0, Math.round((Number(m[1]) * 1000 - samplingIntervalMs) * 100) / 100) : null;
  };
  return { mean: read('mean'), p50: read('p50'), p90: read('p90'), p99: read('p99'), max: read('max') };
}

async function sampleRedis(redis: Redis): Promise<RedisSample> {
  const [commandstats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  return { commands: parseCommandstats(commandstats), cpuSeconds: cpuSecondsOf(cpu) };
}

/** `cmdstat_xadd:calls=3,usec=27,usec_per_call=9.00,...` lines, by command. */
export function parseCommandstats(info: string): Map<string, { calls: number; usec: number }> {
  const commands = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return commands;
}

function cpuSecondsOf(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

export function redisDelta(before: RedisSample, after: RedisSample) {
  const commands = [...after.commands]
    .map(([command, a]) => {
      const b = before.commands.get(command) ?? { calls: 0, usec: 0 };
      return { command, calls: a.calls - b.calls, usec: a.usec - b.usec };
    })
    .filter((c) => c.calls > 0)
    .sort((x, y) => y.usec - x.usec);
  const rest = commands.slice(topCommands);
  return {
    cpuSeconds: Math.round((after.cpuSeconds - before.cpuSeconds) * 100) / 100,
    commandSeconds: Math.round(commands.reduce((a, c) => a + c.usec, 0) / 1e4) / 100,
    calls: commands.reduce((a, c) => a + c.calls, 0),
    commands: [
      ...commands.slice(0, topCommands).map((c) => ({ ...c, usecPerCall: Math.round((c.usec / c.calls) * 100) / 100 })),
      ...(rest.length > 0
        ? [{ command: `(${rest.length} others)`, calls: rest.reduce((a, c) => a + c.calls, 0), usec: rest.reduce((a, c) => a + c.usec, 0) }]
        : []),
    ],
  };
}
