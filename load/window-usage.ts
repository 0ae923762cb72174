import { loadavg } from 'node:os';
import { sampleProcess } from './processes.ts';

/**
 * CPU seconds each observed process spent during a measuring window, and the machine's
 * load around it: anything else busy on the machine skews every figure, and this shows it.
 */
export function startWindowUsage(processes: { name: string; pid: number }[]) {
  const cpuBefore = processes.map((p) => sampleProcess(p.pid).cpuSeconds);
  const harnessBefore = process.cpuUsage();
  const loadBefore = loadavg()[0]!;
  return {
    stop() {
      const cpuAfter = processes.map((p) => sampleProcess(p.pid).cpuSeconds);
      const harness = process.cpuUsage(harnessBefore);
      return {
        loadAverage1m: { beforeWindow: round(loadBefore), afterWindow: round(loadavg()[0]!) },
        cpuSecondsDuringWindow: {
          harness: round((harness.user + harness.system) / 1e6),
          ...Object.fromEntries(processes.map((p, i) => {
            const before = cpuBefore[i];
            const after = cpuAfter[i];
            return [p.name, before == null || after == null ? null : round(after - before)];
          })),
        },
      };
    },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
