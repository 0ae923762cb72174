import { machineInfo, type ServerVersions } from './environment.ts';
import { sampleProcess } from './processes.ts';
import type { Target } from './target.ts';

/**
 * Completes a scenario's figures with what they were measured on and what the processes
 * weighed at the end, and prints the document as one JSON line on stdout.
 */
export function buildReport(figures: Record<string, unknown>, target: Target, servers: ServerVersions) {
  const harness = sampleProcess(process.pid);
  return {
    ...figures,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    servers,
    processes: target.processes.map((p) => ({ name: p.name, pid: p.pid, rssMB: sampleProcess(p.pid).rssMB })),
    harness: { pid: process.pid, rssMB: harness.rssMB ?? Math.round(process.memoryUsage().rss / 2 ** 20) },
  };
}

export function printReport(doc: object): void {
  process.stdout.write(`${JSON.stringify(doc)}\n`);
}

/** Where the figures were measured: how many delivery nodes, and whose stack. */
export function stackParameters(target: Target, external: boolean) {
  return { deliveryNodes: target.deliveryUrls.length, stack: external ? 'external' : 'started by the harness' };
}
