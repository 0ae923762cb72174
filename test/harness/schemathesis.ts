import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs schemathesis (`st`, a Python CLI that fuzzes an API from its OpenAPI document)
 * for the fuzz test. scripts/install-schemathesis.sh puts it in a virtualenv in the
 * cache; `make test` and .ci/run call that script. A missing binary is an error, not a
 * skip: a fuzz test that quietly does not run proves nothing.
 */
export function schemathesisBinary(): string {
  const explicit = process.env.PUSHFLOW_SCHEMATHESIS_BIN;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`PUSHFLOW_SCHEMATHESIS_BIN=${explicit} does not exist`);
    return explicit;
  }
  const cache = process.env.PUSHFLOW_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pushflow');
  const cached = join(cache, 'schemathesis', 'bin', 'st');
  if (!existsSync(cached)) {
    throw new Error(
      `schemathesis not found at ${cached}: run scripts/install-schemathesis.sh (make test does), or set PUSHFLOW_SCHEMATHESIS_BIN`,
    );
  }
  return cached;
}

export interface RunResult {
  exitCode: number | null;
  /** Killed at the deadline: the run did not finish. */
  timedOut: boolean;
  /** Everything it printed, also written to `outputFile`. */
  output: string;
}

/** Runs `st <args>` in `cwd`, copying its output to `outputFile`; SIGKILL at the deadline. */
export async function runSchemathesis(args: string[], opts: { cwd: string; outputFile: string; deadlineMs: number }): Promise<RunResult> {
  const child = spawn(schemathesisBinary(), args, {
    cwd: opts.cwd,
    // Wide enough that reproduction commands are not wrapped; no colour codes in files.
    env: { ...process.env, COLUMNS: '200', NO_COLOR: '1', PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const file = createWriteStream(opts.outputFile);
  const chunks: Buffer[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (d: Buffer) => {
      chunks.push(d);
      file.write(d);
    });
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.deadlineMs);
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  clearTimeout(timer);
  await new Promise<void>((r) => file.end(r));
  return { exitCode, timedOut, output: Buffer.concat(chunks).toString('utf8') };
}

/** schemathesis' own report of what failed, with a curl command per failure. */
export function failuresSection(output: string, maxChars = 20_000): string {
  const start = output.indexOf('= FAILURES =');
  const from = start === -1 ? Math.max(0, output.length - 4000) : output.lastIndexOf('\n', start) + 1;
  const section = output.slice(from);
  return section.length > maxChars ? `${section.slice(0, maxChars)}\n[... cut; the whole output is in the file named above]` : section;
}

export interface Exchange {
  method: string;
  url: URL;
  status: number;
}

/** Every request schemathesis sent and the status it got, from its HAR report. */
export function exchangesFromHar(path: string): Exchange[] {
  const har = JSON.parse(readFileSync(path, 'utf8')) as {
    log: { entries: { request: { method: string; url: string }; response: { status: number } }[] };
  };
  return har.log.entries.map((e) => ({ method: e.request.method, url: new URL(e.request.url), status: e.response.status }));
}

export interface Operation {
  method: string;
  /** The OpenAPI path template, e.g. /notifications/{id}/status. */
  path: string;
  secured: boolean;
  matches(method: string, pathname: string): boolean;
}

/** The operations an OpenAPI document declares, and whether each needs credentials. */
export function operationsOf(openapi: {
  security?: unknown[];
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(openapi.paths)) {
    const pattern = new RegExp(
      `^${path
        .split(/\{[^}]+\}/)
        .map(escapeRegExp)
        .join('[^/]+')}$`,
    );
    for (const [method, op] of Object.entries(item)) {
      const security = op.security ?? openapi.security ?? [];
      ops.push({
        method: method.toUpperCase(),
        path,
        secured: security.length > 0,
        matches: (m, pathname) => m === method.toUpperCase() && pattern.test(pathname),
      });
    }
  }
  return ops;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
