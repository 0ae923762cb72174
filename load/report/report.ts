import { machineInfo, type ServerVersions } from '../probes/environment.ts';
import { sampleProcess } from '../probes/processes.ts';
import type { SystemName } from '../drivers/system.ts';
import type { Target } from '../drivers/target.ts';

/**
 * Completes a scenario's figures with whose they are (`system`, first), what they were
 * measured on and what the processes weighed at the end; printReport prints the document
 * as one JSON line on stdout.
 */
export function buildReport<Figures extends object>(
  figures: Figures,
  about: { system: SystemName; processes: { name: string; pid: number }[]; servers: ServerVersions; extra?: Record<string, unknown> },
) {
  const harness = sampleProcess(process.pid);
  return {
    system: about.system,
    ...about.extra,
    ...figures,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    servers: about.servers,
    processes: about.processes.map((p) => ({ name: p.name, pid: p.pid, rssMB: sampleProcess(p.pid).rssMB })),
    harness: { pid: process.pid, rssMB: harness.rssMB ?? Math.round(process.memoryUsage().rss / 2 ** 20) },
  };
}

export function printReport(doc: object): void {
  process.stdout.write(`${JSON.stringify(doc)}\n`);
}

/** Where the figures were measured: how many delivery nodes, and whose stack. */
export function stackParameters(target: Target, external: boolean) {
  return {
    deliveryNodes: target.deliveryUrls.length,
    partitions: target.partitions ?? null,
    dispatchers: target.dispatchers ?? null,
    stack: external ? 'external' : 'started by the harness',
  };
}
