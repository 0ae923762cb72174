import { spawn } from 'node:child_process';
import { root } from '../test/harness/stack.ts';

/**
 * The real harness as `make bench` runs it, with tiny parameters: it starts its own
 * stack, sends, verifies and stops by itself, printing one JSON line per scenario.
 */
export function bench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${root}/scripts/node.sh`, ['--import', 'tsx', 'load/bench.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench still running after ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
