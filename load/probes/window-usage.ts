import { loadavg } from 'node:os';
import { sampleProcess } from './processes.ts';
import { startWindowProbes } from './window-probes.ts';

/**
 * CPU seconds each observed process spent during a measuring window, and the machine's
 * load around it: anything else busy on the machine skews every figure, and this shows it.
 * Then what the servers say of the same window (window-probes.ts).
 */
export async function startWindowUsage(target: { redisUrl?: string; processes: { name: string; pid: number; metricsUrl?: string }[] }) {
  const { processes } = target;
  const probes = await startWindowProbes(target);
  const cpuBefore = processes.map((p) => sampleProcess(p.pid).cpuSeconds);
  const harnessBefore = process.cpuUsage();
  const loadBefore = loadavg()[0]!;
  return {
    async stop() {
      const cpuAfter = processes.map((p) => sampleProcess(p.pid).cpuSeconds);
      const harness = process.cpuUsage(harnessBefore);
      const loadAfter = loadavg()[0]!;
      const probed = await probes.stop();
      return {
        loadAverage1m: { beforeWindow: round(loadBefore), afterWindow: round(loadAfter) },
        cpuSecondsDuringWindow: {
          harness: round((harness.user + harness.system) / 1e6),
          ...Object.fromEntries(
            processes.map((p, i) => {
              const before = cpuBefore[i];
              const after = cpuAfter[i];
              return [p.name, before == null || after == null ? null : round(after - before)];
            }),
          ),
        },
        // Where the time went inside the servers during the window.
        eventLoopDelayMsDuringWindow: probed.eventLoopDelayMs,
        redisDuringWindow: probed.redis,
      };
    },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
