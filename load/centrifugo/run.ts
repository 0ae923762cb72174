import { serverVersions } from '../probes/environment.ts';
import type { BenchOptions } from '../options.ts';
import { buildReport } from '../report/report.ts';
import { runScenario, type Driver } from '../scenarios/run-scenario.ts';
import { startCentrifugo } from './server.ts';
import { centrifugoSystem } from './system.ts';

/**
 * One scenario against a Centrifugo of its own (started, measured, stopped): the same
 * scenario code and options as PushFlow's run, and a report of the same shape with
 * `"system":"centrifugo"` and the version the server reports.
 */
export async function runOnCentrifugo(binary: string, options: BenchOptions, driver: Driver) {
  process.stderr.write(`bench: ${driver.name}: starting Centrifugo (${binary}) with its own Redis\n`);
  const server = await startCentrifugo(binary);
  const stop = () => {
    process.stderr.write(`bench: ${driver.name}: stopping Centrifugo\n`);
    return server.stop();
  };
  let report;
  try {
    const servers = await serverVersions(server.redisUrl);
    const system = centrifugoSystem(server);
    const figures = await runScenario(system, options, driver);
    report = buildReport(figures, {
      system: 'centrifugo',
      processes: system.processes,
      servers,
      extra: { centrifugoVersion: server.version },
    });
  } catch (err) {
    await stop().catch(() => {}); // the scenario's error is the one to report
    throw err;
  }
  await stop();
  return report;
}
