import { runProcess, type ProcessResult } from '../local-stack/run-process.ts';
import { root } from '../local-stack/stack.ts';

/**
 * The real harness as `make bench` runs it, with tiny parameters: it starts its own
 * stack, sends, verifies and stops by itself, printing one JSON line per scenario.
 */
export function bench(args: string[], timeoutMs: number): Promise<ProcessResult> {
  return runProcess(`${root}/scripts/node.sh`, ['load/bench.ts', ...args], { cwd: root, timeoutMs, what: 'bench' });
}

/** A throughput run small enough for a test: 2 s after 1 s of warm-up, 5 recipients, 4 senders; add --peer. */
export const TINY_THROUGHPUT = [
  '--scenario',
  'throughput',
  '--duration',
  '2',
  '--warmup',
  '1',
  '--recipients',
  '5',
  '--concurrency',
  '4',
  '--drain',
  '20',
];
