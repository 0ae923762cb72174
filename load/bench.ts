/**
 * `make bench`: measures PushFlow on this machine and prints one JSON document per
 * scenario on stdout. `--help` lists the options; without any it starts its own stack.
 * With a peer (--peer, on by default where a centrifugo binary is found), throughput,
 * latency and batch also run against Centrifugo and each print its document and a comparison.
 */
import { join } from 'node:path';
import { compareWithCentrifugo } from './centrifugo/comparison.ts';
import { runOnCentrifugo } from './centrifugo/run.ts';
import { serverVersions } from './probes/environment.ts';
import { parseOptions, usage, UsageError, type BenchOptions, type ScenarioName } from './options.ts';
import { pushflowSystem } from './drivers/pushflow.ts';
import { buildReport, printReport } from './report/report.ts';
import { runScenario, type Driver } from './scenarios/run-scenario.ts';
import { openFiles } from './probes/processes.ts';
import { connectionsScenario, deliveryNodesFor } from './scenarios/connections.ts';
import { latencyScenario } from './scenarios/latency.ts';
import { statusScenario } from './scenarios/status.ts';
import { batchScenario, throughputScenario } from './scenarios/throughput.ts';
import { webhooksScenario } from './scenarios/webhooks.ts';
import { openTarget, type Target } from './drivers/target.ts';

let options: BenchOptions | 'help';
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError) && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') !== true) throw err;
  process.stderr.write(`bench: ${(err as Error).message}\n\n${usage}`);
  process.exit(1);
}
if (options === 'help') {
  process.stdout.write(usage);
  process.exit(0);
}

const opts = options;
// Exiting (rather than dying of the signal) lets the harness kill the stack it started.
process.once('SIGINT', () => process.exit(130));
// The scenarios that go through run-scenario.ts, and so can run against a peer too.
const drivers: Partial<Record<ScenarioName, () => Driver>> = {
  throughput: () => throughputScenario(opts.concurrency),
  latency: () => latencyScenario(opts.rate, opts.maxInFlight),
  batch: () => batchScenario(opts.concurrency, opts.batch),
};
const others: Partial<Record<ScenarioName, (target: Target) => Promise<Record<string, unknown> & { verified: boolean }>>> = {
  status: (target) => statusScenario(target, opts),
  connections: (target) => connectionsScenario(target, opts),
  webhooks: (target) => webhooksScenario(target, opts),
};

// A fresh stack per scenario: scenarios stay independent of each other (the status
// collection left by one would slow the projection of the next).
let allVerified = true;
let failure: unknown;
for (const name of opts.scenarios) {
  const stackOpts = name === 'connections' ? { ...opts, nodes: deliveryNodesFor(opts, openFiles()?.limit ?? null) } : opts;
  process.stderr.write(
    opts.external
      ? `bench: ${name}: targeting ${opts.external.gatewayUrl}\n`
      : `bench: ${name}: starting a stack with ${stackOpts.nodes} delivery node(s), ${opts.partitions} partition(s), ${opts.dispatchers} dispatcher(s)\n`,
  );
  // Read by the harness when it spawns each service (local-stack/stack.ts).
  if (opts.cpuProfDir) process.env.PUSHFLOW_CPU_PROF_DIR = join(opts.cpuProfDir, name);
  // The webhooks scenario's receiver is in this process, on loopback: the SSRF guard would refuse it.
  const env = name === 'webhooks' ? { PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' } : undefined;
  const target = await openTarget(stackOpts, { inspect: name === 'connections', ...(env && { env }) }).catch((err) => {
    failure = err;
  });
  if (!target) break;
  const driver = drivers[name];
  let pushflow: Awaited<ReturnType<typeof runScenario>> | undefined;
  try {
    const servers = await serverVersions(target.redisUrl, target.mongoUrl);
    const system = pushflowSystem(target, Boolean(opts.external));
    const figures = driver ? (pushflow = await runScenario(system, opts, driver())) : await others[name]!(target);
    allVerified &&= figures.verified;
    printReport(buildReport(figures, { system: 'pushflow', processes: target.processes, servers }));
  } catch (err) {
    failure = err;
  } finally {
    process.stderr.write(`bench: ${name}: stopping\n`);
    await target.stop().catch((err) => {
      failure ??= err;
    });
    if (opts.cpuProfDir) process.stderr.write(`bench: ${name}: CPU profiles in ${join(opts.cpuProfDir, name)}\n`);
  }
  if (failure) break;
  if (driver && pushflow && opts.peer === 'centrifugo') {
    try {
      const centrifugo = await runOnCentrifugo(opts.centrifugoBinary!, opts, driver());
      allVerified &&= centrifugo.verified;
      printReport(centrifugo);
      printReport(compareWithCentrifugo(pushflow, centrifugo));
    } catch (err) {
      failure = err;
      break;
    }
  }
}
if (failure) {
  process.stderr.write(`bench: ${(failure as Error).stack ?? failure}\n`);
  process.exit(1);
}
// Sockets and keep-alive connections may linger; the run is over.
process.exit(allVerified ? 0 : 2);
