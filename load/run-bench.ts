import { runProcess, type ProcessResult } from '../local-stack/run-process.ts';
import { root } from '../local-stack/stack.ts';

/**
 * The real harness as `make bench` runs it, with tiny parameters: it starts its own
 * stack, sends, verifies and stops by itself, printing one JSON line per scenario.
 */
export function bench(args: string[], timeoutMs: number): Promise<ProcessResult> {
  return runProcess(`${root}/scripts/node.sh`, ['load/bench.ts', ...args], { cwd: root, timeoutMs, what: 'bench' });
}
