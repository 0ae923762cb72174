/**
 * `make bench`: measures PushFlow on this machine and prints one JSON document per
 * scenario on stdout. `--help` lists the options; without any it starts its own stack.
 */
import { serverVersions } from './environment.ts';
import { parseOptions, usage, UsageError, type BenchOptions, type ScenarioName } from './options.ts';
import { buildReport, printReport } from './report.ts';
import { runScenario } from './run-scenario.ts';
import { connectionsScenario } from './scenarios/connections.ts';
import { latency } from './scenarios/latency.ts';
import { statusScenario } from './scenarios/status.ts';
import { throughput } from './scenarios/throughput.ts';
import { openTarget, type Target } from './target.ts';

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
const scenarios: Record<ScenarioName, (target: Target) => Promise<{ verified: boolean }>> = {
  throughput: (target) => runScenario(target, opts, throughput(opts.concurrency)),
  latency: (target) => runScenario(target, opts, latency(opts.rate, opts.maxInFlight)),
  status: (target) => statusScenario(target, opts),
  connections: (target) => connectionsScenario(target, opts),
};

// A fresh stack per scenario: scenarios stay independent of each other (the status
// collection left by one would slow the projection of the next).
let allVerified = true;
let failure: unknown;
for (const name of opts.scenarios) {
  process.stderr.write(opts.external ? `bench: ${name}: targeting ${opts.external.gatewayUrl}\n` : `bench: ${name}: starting a stack with ${opts.nodes} delivery node(s)\n`);
  const target = await openTarget(opts, { inspect: name === 'connections' }).catch((err) => { failure = err; });
  if (!target) break;
  try {
    const servers = await serverVersions(target.redisUrl, target.mongoUrl);
    const figures = await scenarios[name](target);
    allVerified &&= figures.verified;
    printReport(buildReport(figures, target, servers));
  } catch (err) {
    failure = err;
  } finally {
    process.stderr.write(`bench: ${name}: stopping\n`);
    await target.stop().catch((err) => { failure ??= err; });
  }
  if (failure) break;
}
if (failure) {
  process.stderr.write(`bench: ${(failure as Error).stack ?? failure}\n`);
  process.exit(1);
}
// Sockets and keep-alive connections may linger; the run is over.
process.exit(allVerified ? 0 : 2);
