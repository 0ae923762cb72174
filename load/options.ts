import { parseArgs } from 'node:util';

/** Command-line options of `load/bench.ts`; `make bench` passes none, so every default runs. */
export type ScenarioName = 'throughput' | 'latency';
export const scenarioNames: readonly ScenarioName[] = ['throughput', 'latency'];

export interface BenchOptions {
  scenarios: ScenarioName[];
  nodes: number;
  recipients: number;
  concurrency: number;
  durationSeconds: number;
  rate: number;
  maxInFlight: number;
  drainSeconds: number;
  /** Set when targeting a running stack instead of starting one. */
  external?: { gatewayUrl: string; deliveryUrls: string[]; apiKey: string; mongoUrl?: string; redisUrl?: string };
}

export const usage = `Usage: ./scripts/node.sh --import tsx load/bench.ts [options]

Benchmarks PushFlow on this machine. By default it starts its own stack (Redis, a
MongoDB-protocol server, dispatcher, delivery nodes, gateway) on free loopback ports,
runs every scenario (each on a fresh stack), prints ONE JSON line per scenario
on stdout and stops the stack.
Progress goes to stderr.

Scenarios:
  throughput   closed loop: --concurrency senders POST as fast as answers come back
  latency      open loop: POSTs scheduled at --rate per second whatever the answers

Options:
  --scenario NAME      run only this scenario (repeatable; default: all)
  --nodes N            delivery nodes of the stack it starts (default 1)
  --recipients N       connected WebSocket recipients, spread over the nodes (default 50)
  --concurrency N      concurrent HTTP senders in throughput (default 64)
  --duration S         seconds of sending per scenario (default 10)
  --rate N             target sends per second in latency (default 1000)
  --max-in-flight N    latency: cap on unanswered POSTs; sends due beyond it are
                       skipped and reported (default 1000)
  --drain S            bound on the wait, after sending, for every frame and for every
                       status to reach DELIVERED (default 120; the projection into
                       a FerretDB stand-in lags the sends by tens of seconds)

Targeting a running stack (e.g. make dev) instead:
  --gateway URL        gateway base URL, e.g. http://127.0.0.1:3000
  --delivery URL       delivery base URL, e.g. ws://127.0.0.1:8080 (repeatable)
  --api-key K          an API key (default: the development key)
  --mongo URL          read statuses from this MongoDB (database in the path);
                       without it statuses are read with GET /notifications/:id/status
  --redis URL          only to report the Redis version
  -h, --help           this text

Exit status: 0 when every scenario verified (every accepted notification received
exactly once and DELIVERED), 2 when one did not, 1 on errors.
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string', multiple: true },
      nodes: { type: 'string' },
      recipients: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      'max-in-flight': { type: 'string' },
      drain: { type: 'string' },
      gateway: { type: 'string' },
      delivery: { type: 'string', multiple: true },
      'api-key': { type: 'string' },
      mongo: { type: 'string' },
      redis: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const scenarios = (values.scenario ?? [...scenarioNames]).map((s) => {
    if (!scenarioNames.includes(s as ScenarioName)) throw new UsageError(`unknown scenario ${s} (known: ${scenarioNames.join(', ')})`);
    return s as ScenarioName;
  });
  const options: BenchOptions = {
    scenarios,
    nodes: positive('nodes', values.nodes, 1, true),
    recipients: positive('recipients', values.recipients, 50, true),
    concurrency: positive('concurrency', values.concurrency, 64, true),
    durationSeconds: positive('duration', values.duration, 10),
    rate: positive('rate', values.rate, 1000),
    maxInFlight: positive('max-in-flight', values['max-in-flight'], 1000, true),
    drainSeconds: positive('drain', values.drain, 120),
  };
  if (values.gateway || values.delivery) {
    if (!values.gateway || !values.delivery) throw new UsageError('--gateway and --delivery go together');
    options.external = {
      gatewayUrl: values.gateway.replace(/\/$/, ''),
      deliveryUrls: values.delivery.map((u) => u.replace(/\/$/, '')),
      apiKey: values['api-key'] ?? 'dev-only-api-key-change-me',
      ...(values.mongo && { mongoUrl: values.mongo }),
      ...(values.redis && { redisUrl: values.redis }),
    };
  } else if (values['api-key'] || values.mongo || values.redis) {
    throw new UsageError('--api-key, --mongo and --redis only apply with --gateway and --delivery');
  }
  return options;
}

function positive(name: string, raw: string | undefined, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${raw}`);
  }
  return n;
}
